"""The ``@hot`` decorator."""

from __future__ import annotations

from types import FunctionType, ModuleType

from .._state import registry, settings
from ..core._settings import logger
from ..core._wrappers import accessors, innermost, is_instance, probe
from ._swap import catch_up

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    _T = TypeVar("_T")


def hot(obj: _T) -> _T:
    """Mark a function, every function of a class, or of a module, as hot; return it unchanged.

    From ``hotfunc.start()`` on, saving the file makes the next call run the new
    code.  ``hot(f) is f``: there is no wrapper and no cost per call.

    Accepts plain, async and generator functions; ``staticmethod``,
    ``classmethod`` and ``property`` objects in either order with ``@hot``;
    decorators made with ``functools.wraps`` (the wrapped function is followed
    through ``__wrapped__``); classes, whose body's functions all become hot;
    and modules: ``hot(module)`` makes every function and class the module
    defines hot, without editing or re-executing it.

    Raises:
        TypeError: ``obj`` is neither a function nor a class.
    """
    if isinstance(obj, FunctionType):
        # The common case, first and without probing: a plain function of a
        # file already read, which costs an append (registry.defer(), inline:
        # an application has thousands).  Reading __dict__ would give each
        # function a dict of its own.  A function whose __qualname__ is still
        # its code's own was given none by functools.wraps, so it has no
        # __wrapped__ to look for, and the look, which fails, is spared.
        code = obj.__code__
        deferred = _deferring.get(code.co_filename)
        qualname = code.co_qualname
        if (
            deferred is not None
            and "<locals>" not in qualname
            and (obj.__qualname__ is qualname or getattr(obj, "__wrapped__", None) is None)
            and not settings.disabled
        ):
            deferred.append(obj)
            return obj
    if settings.disabled:
        return obj
    if isinstance(obj, FunctionType) and getattr(obj, "__wrapped__", None) is None:
        _register(obj)  # the append above could not take it: add() decides
    elif isinstance(obj, type):
        _register_class(obj)
    elif isinstance(obj, ModuleType):
        hot_module(obj)
    elif not _register_wrapped(obj):
        msg = (
            f"hot() takes a function, a class or a module, not {obj!r} "
            f"(a {type(obj).__name__}); it needs Python source to reload"
        )
        raise TypeError(msg)
    return obj


_deferring = registry.deferring


def _register(func: FunctionType, caches: tuple[object, ...] = ()) -> None:
    added = registry.add(func, caches)
    if added is None:  # deferred: a new definition of a file already known
        return
    entry, created = added
    if created:
        if entry.error is not None:
            logger().warning("%s registered but cannot be reloaded: %s", entry.name, entry.error)
    elif entry.version:
        catch_up(entry, func)


def _register_wrapped(obj: object) -> bool:
    """Register the function(s) behind ``obj``; return whether there were any."""
    found = [innermost(target) for target in accessors(obj)]
    if not found or any(func is None for func, _ in found):
        return False
    for func, caches in found:
        assert func is not None
        _register(func, caches)
    return True


def hot_module(module: ModuleType) -> None:
    """Every function and class the module defines; names it imported are skipped.

    The module itself is known too, so a save runs its changed statements even
    while it defines no function.
    """
    filename = probe(module, "__file__")
    if isinstance(filename, str) and filename.endswith(".py"):
        hot_namespace(filename, vars(module))
    else:
        _register_namespace(vars(module))


def hot_namespace(filename: str, namespace: dict[str, object]) -> None:
    """The module run from ``filename`` in ``namespace``, as ``hot(module)`` makes it hot."""
    # Its functions are registered when its file is first needed: an
    # import under `hotfunc run` costs one call, not one per function.
    registry.add_namespace(filename, namespace, _register_namespace)


def _register_namespace(namespace: dict[str, object]) -> None:
    name = str(namespace.get("__name__", ""))
    for value in list(namespace.values()):
        register_defined(value, name)


def register_defined(value: object, module: str) -> None:
    """Make ``value`` hot if it is a function or class that ``module`` defines."""
    if type(value) is FunctionType and getattr(value, "__wrapped__", None) is None:
        # Most of a module: a plain function, known without probing anything.
        if value.__module__ == module and not registry.defer(value) and _has_source(value):
            _register(value)
        return
    if is_instance(value, type):
        if probe(value, "__module__") == module and "<locals>" not in str(
            probe(value, "__qualname__")
        ):
            _register_class(value)  # type: ignore[arg-type]
        return
    for target in accessors(value):
        func, caches = innermost(target)
        if func is not None and func.__module__ == module and _has_source(func):
            _register(func, caches)


def _register_class(cls: type) -> None:
    prefix = cls.__qualname__ + "."
    for name, value in list(vars(cls).items()):
        if is_instance(value, type):
            if value.__qualname__ == prefix + name:
                _register_class(value)
            continue
        for target in accessors(value):
            func, caches = innermost(target)
            # Skip what the body merely assigned from elsewhere (aliases,
            # imports) and what code generated (a NamedTuple's _make): the
            # code's own qualname says where the def stood.
            if (
                func is not None
                and func.__code__.co_qualname.startswith(prefix)
                and _has_source(func)
            ):
                _register(func, caches)


def _has_source(func: FunctionType) -> bool:
    """False for code made by exec() on purpose: a dataclass's __init__, a NamedTuple's __new__.

    Such methods come with the class and change when it is rebuilt; they are
    skipped without a warning, which is kept for a function made hot by name.
    """
    filename = func.__code__.co_filename
    if filename.startswith("<") and filename.endswith(">"):
        logger().debug("%s has no source file (%s); not made hot", func.__qualname__, filename)
        return False
    return True
