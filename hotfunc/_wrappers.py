"""Find the function with the source behind decorators and descriptors."""

from __future__ import annotations

from types import FunctionType

# Attributes through which decorators expose what they wrap: functools.wraps,
# staticmethod/classmethod, functools.cached_property and partial.
_WRAPPED = ("__wrapped__", "__func__", "func")


def innermost(obj: object) -> tuple[FunctionType | None, tuple[object, ...]]:
    """Follow wrappers to the function with the source.

    Returns it (or None) and the ``lru_cache``-style wrappers passed on the way,
    whose caches must be cleared when the function changes.
    """
    caches: list[object] = []
    for _ in range(100):  # a wrapper chain that loops must not hang us
        if isinstance(obj, FunctionType) and not hasattr(obj, "__wrapped__"):
            return obj, tuple(caches)
        if hasattr(obj, "cache_clear"):
            caches.append(obj)
        obj = next((getattr(obj, a) for a in _WRAPPED if hasattr(obj, a)), None)
        if obj is None:
            break
    return None, ()


def accessors(obj: object) -> list[object]:
    """A property's getter, setter and deleter; anything else as itself."""
    if isinstance(obj, property):
        return [f for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
    return [obj]
