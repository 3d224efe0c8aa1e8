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


def signature_reader(func: FunctionType) -> str | None:
    """What holds ``func`` and read its signature once, when it was set up; or None.

    Looks where such a holder is kept, in the function's module: a name
    bound to a wrapper that is not ``functools.wraps``-transparent (a click
    or typer command), or a FastAPI app or router with a route to it.
    """
    namespace = func.__globals__
    held = namespace.get(func.__name__)
    if held is not func and held is not None:
        if probe(held, "callback") is func:
            return f"{type(held).__name__} {func.__name__!r} (click or typer)"
        if probe(held, "__wrapped__") is None and innermost(held)[0] is func:
            return f"the {type(held).__name__} that wraps {func.__name__!r}"
    for value in list(namespace.values()):
        if type(value).__name__ not in ("FastAPI", "APIRouter"):
            continue
        routes = probe(value, "routes")
        for route in routes if isinstance(routes, list) else ():
            if probe(route, "endpoint") is func:
                return f"the FastAPI route {probe(route, 'path')!r}"
    return None


def accessors(obj: object) -> list[object]:
    """A property's getter, setter and deleter; anything else as itself."""
    if type(obj) is property or is_instance(obj, property):
        prop: property = obj  # type: ignore[assignment]
        return [f for f in (prop.fget, prop.fset, prop.fdel) if f is not None]
    return [obj]
