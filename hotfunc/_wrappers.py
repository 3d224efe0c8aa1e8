"""Find the function with the source behind decorators and descriptors.

Everything here probes objects the application owns, and some of them raise
from any attribute access (werkzeug's ``request`` proxy outside a request,
for one): every probe treats an exception as "no such attribute".
"""

from __future__ import annotations

from types import FunctionType

# Attributes through which decorators expose what they wrap: functools.wraps,
# staticmethod/classmethod, functools.cached_property and partial.
_WRAPPED = ("__wrapped__", "__func__", "func")


def probe(obj: object, name: str) -> object | None:
    """``getattr(obj, name, None)`` that no object can make raise."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def is_instance(obj: object, kind: type | tuple[type, ...]) -> bool:
    """``isinstance`` that a raising ``__class__`` cannot make raise."""
    try:
        return isinstance(obj, kind)
    except Exception:
        return False


def innermost(obj: object) -> tuple[FunctionType | None, tuple[object, ...]]:
    """Follow wrappers to the function with the source.

    Returns it (or None) and the ``lru_cache``-style wrappers passed on the way,
    whose caches must be cleared when the function changes.
    """
    caches: list[object] = []
    for _ in range(100):  # a wrapper chain that loops must not hang us
        if type(obj) is FunctionType and probe(obj, "__wrapped__") is None:
            return obj, tuple(caches)
        if probe(obj, "cache_clear") is not None:
            caches.append(obj)
        obj = next((w for a in _WRAPPED if (w := probe(obj, a)) is not None), None)
        if obj is None:
            break
    return None, ()


def accessors(obj: object) -> list[object]:
    """A property's getter, setter and deleter; anything else as itself."""
    if type(obj) is property or is_instance(obj, property):
        prop: property = obj  # type: ignore[assignment]
        return [f for f in (prop.fget, prop.fset, prop.fdel) if f is not None]
    return [obj]
