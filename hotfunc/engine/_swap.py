"""Apply new code to live function objects, in place.

The function object stays the same, so every reference to it (module globals,
class dicts, decorators' closures, callbacks held elsewhere) sees the change.
Frames already running keep the code they started with.
"""

from __future__ import annotations

import sys
from types import CodeType, FunctionType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..core._entry import Entry


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none"


def closure_error(func: FunctionType, code: CodeType) -> str | None:
    """Why ``code`` cannot run as ``func``, or None when it can.

    A function's closure cells are fixed when it is created; the new code must
    expect exactly the same free variables.
    """
    old, new = func.__code__.co_freevars, code.co_freevars
    if old == new:
        return None
    name = func.__qualname__
    if "__class__" in new and "__class__" not in old:
        owner = name.rpartition(".")[0].rpartition("<locals>.")[2] or "TheClass"
        return (
            f"cannot swap {name!r}: zero-argument super() (or __class__) needs a class cell "
            f"that Python only creates when the class statement runs, and this class is "
            f"not reachable from module globals; write super({owner}, self) or restart"
        )
    outer = name.rpartition(".<locals>.")[0]
    recover = (
        f"re-create it by calling {outer!r} again"
        if outer
        else "restart the process to re-create it"
    )
    return (
        f"cannot swap {name!r}: its closure variables changed "
        f"({_names(old)} -> {_names(new)}); {recover}"
    )


def catch_up(entry: Entry, func: FunctionType) -> None:
    """Give a function made from old code (a factory's fresh closure) the current code."""
    if func.__code__ == entry.code or closure_error(func, entry.code) is not None:
        return
    sibling = next((f for f in entry.functions if f.__code__ is entry.code), None)
    apply(func, entry.code, sibling, False)


def apply(
    func: FunctionType,
    code: CodeType,
    made: FunctionType | None,
    replace_defaults: bool,
) -> None:
    """Point ``func`` at ``code``; copy what ``made`` evaluated, if given.

    ``made`` is the function a bare run of the ``def`` produced, carrying the
    new docstring, annotations and type parameters; its defaults replace the
    old ones only when their expressions changed, so a mutable default keeps
    its state across edits of the body.
    """
    if made is None:
        func.__code__ = code
        return
    defaults = (made.__defaults__, made.__kwdefaults__) if replace_defaults else None
    type_params = getattr(made, "__type_params__", ())  # Python 3.12+
    assign(func, code, defaults, made.__doc__, made.__annotations__, type_params)


def assign(
    func: FunctionType,
    code: CodeType,
    defaults: tuple[tuple[Any, ...] | None, dict[str, Any] | None] | None,
    doc: str | None,
    annotations: dict[str, Any],
    type_params: tuple[Any, ...],
) -> None:
    """Give ``func`` this code and metadata; ``defaults`` None keeps its defaults."""
    func.__code__ = code
    if defaults is not None:
        func.__defaults__, func.__kwdefaults__ = defaults
    func.__doc__ = doc
    func.__annotations__ = annotations
    if sys.version_info >= (3, 12):
        func.__type_params__ = type_params


#: The file name of code that raises a reload error, to recognise it.
RAISING = "<hotfunc: reload failed>"


def raising_code(func: FunctionType, message: str) -> CodeType | None:
    """Code that raises ``ReloadError(message)`` and fits ``func``'s closure.

    Returns None when no such code can be made (a closure variable named like
    a keyword, which cannot happen in code Python compiled).
    """
    names = func.__code__.co_freevars
    binds = "".join(f"    {name} = None\n" for name in names)
    uses = f"        ({', '.join(names)},)\n" if names else ""
    text = (
        "def outer():\n"
        f"{binds}"
        f"    def {func.__code__.co_name}(*args, **kwargs):\n"
        f"{uses}"
        f"        raise __import__('hotfunc.exceptions').exceptions.ReloadError({message!r})\n"
        f"    return {func.__code__.co_name}\n"
    )
    try:
        module = compile(text, RAISING, "exec")
    except SyntaxError:
        return None
    outer = next(c for c in module.co_consts if isinstance(c, CodeType))
    inner = next(c for c in outer.co_consts if isinstance(c, CodeType))
    return inner if inner.co_freevars == names else None


def clear_caches(wrappers: list[Any]) -> None:
    """Empty ``functools.lru_cache`` wrappers so no stale result is served."""
    for wrapper in wrappers:
        clear = getattr(wrapper, "cache_clear", None)
        if callable(clear):
            clear()
