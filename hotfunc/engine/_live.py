"""The live objects a save meets, probed: classes, modules, functions and tracebacks.

Everything here reads objects the application owns, and treats an exception
from any of them as "no such thing".
"""

from __future__ import annotations

import os
import sys
from abc import ABCMeta
from types import FunctionType, ModuleType, TracebackType

from .._state import registry
from ..core._wrappers import accessors, innermost, is_instance, probe
from ._decorator import _register, hot_module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: A name that was not bound.
MISSING: Any = object()


def register_defined_member(value: object, qualname: str, filename: str) -> bool:
    """Make hot the function(s) behind ``value`` that the def ``qualname`` of ``filename``
    made (a property's accessors, a static or class method); return whether any was."""
    found = False
    for target in accessors(value):
        func, caches = innermost(target)
        if (
            func is not None
            and func.__code__.co_filename == filename
            and func.__code__.co_qualname == qualname
        ):
            _register(func, caches)
            found = True
    return found


def probe_dict(cls: type, name: str | None) -> object | None:
    """``vars(cls)[name]``, or None; never raises."""
    if name is None:
        return None
    try:
        return vars(cls).get(name)
    except Exception:
        return None


def generated(cls: type) -> str | None:
    """Why code generated from the class body makes ``cls`` unpatchable, or None.

    Dataclasses, attrs classes, NamedTuples, Enums, classes with
    ``__slots__`` and classes with their own metaclass build methods,
    descriptors or members from the fields when the class statement runs;
    setting a field afterwards would leave those stale.
    """
    try:
        own = vars(cls)
        if "__dataclass_fields__" in own:
            return "a dataclass"
        if "__attrs_attrs__" in own:
            return "an attrs class"
        if "__slots__" in own:
            return "a class with __slots__"
        if issubclass(cls, tuple) and "_fields" in own:
            return "a NamedTuple"
        meta = type(cls)
        if meta is not type and meta is not ABCMeta:
            return f"a class with the metaclass {meta.__name__}"
    except Exception:
        return "a class that cannot be inspected"
    return None


def hot_new_modules(loaded: set[str]) -> None:
    """Make hot the modules a statement imported for the first time from a folder
    that holds hot files, or from below a hot package (a new subpackage's): the
    application's own new module, edited later too."""
    new = set(sys.modules) - loaded
    if not new:
        return
    paths = registry.paths()
    folders = {os.path.dirname(p) for p in paths}
    above = {name.rsplit(".", n)[0] for name in new for n in range(1, name.count(".") + 1)}
    hot_packages = {
        name
        for name, package in ((n, sys.modules.get(n)) for n in above - new)
        if _real_file(package) in paths and probe(package, "__path__") is not None
    }
    # Parents first: a subpackage's __init__ is hot before its modules are looked at.
    for name in sorted(new, key=lambda n: (n.count("."), n)):
        module = sys.modules.get(name)
        filename = _real_file(module)
        if not isinstance(module, ModuleType) or filename is None:
            continue
        parents = [name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)]
        if os.path.dirname(filename) in folders or not hot_packages.isdisjoint(parents):
            hot_module(module)
            if probe(module, "__path__") is not None:
                hot_packages.add(name)


def _real_file(module: object) -> str | None:
    """The real path of a module's source file, or None for one with no ``.py`` file."""
    filename = probe(module, "__file__")
    if not isinstance(filename, str) or not filename.endswith(".py"):
        return None
    return os.path.realpath(filename)


def replaced(cls: type) -> str | None:
    """Why a decorated class cannot be patched: its decorator made a new class of
    the same name around the one the statement built (a subclass), or None when
    it returned the class it was given."""
    try:
        name, module = cls.__qualname__, cls.__module__
        for base in cls.__mro__[1:]:
            if base.__qualname__ == name and base.__module__ == module:
                return "a class its decorator replaced"
    except Exception:
        return "a class that cannot be inspected"
    return None


def holds_state(value: object) -> bool:
    """Whether rebinding a name away from ``value`` may strand state held elsewhere.

    Constants, containers of the standard library, functions, classes and
    modules are replaced without a word; an application object (an app, a
    connection, a client) is worth a line.
    """
    if value is MISSING or value is None:
        return False
    kind = type(value)
    return kind.__module__ not in ("builtins", "collections", "types", "typing") and not (
        is_instance(value, type)
    )


def functions_of(value: object, name: str) -> list[FunctionType]:
    """The functions a definition made: the function, or a class's methods, nested too."""
    found: list[FunctionType] = []
    if is_instance(value, type):
        cls: type = value  # type: ignore[assignment]
        prefix = name + "."
        try:
            items = list(vars(cls).items())
        except Exception:
            return found
        for key, member in items:
            if is_instance(member, type):
                if probe(member, "__qualname__") == prefix + key:
                    found.extend(functions_of(member, prefix + key))
                continue
            for target in accessors(member):
                func, _ = innermost(target)
                if func is not None and func.__code__.co_qualname.startswith(prefix):
                    found.append(func)
        return found
    for target in accessors(value):
        func, _ = innermost(target)
        if func is not None and func.__code__.co_qualname == name:
            found.append(func)
    return found


def source_of(func: FunctionType) -> str:
    """The text of ``func``'s definition, for its history ("" when it cannot be read)."""
    import inspect

    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def line_in(tb: TracebackType | None, filename: str, fallback: int) -> int:
    """The last line of ``filename`` a traceback passed through."""
    line = fallback
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
