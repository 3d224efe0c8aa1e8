"""Registry adapters: what a definition run again must first take back.

A save runs a top-level ``def`` or ``class`` statement again when its
decorators change, when its decorator's own code changes, and when its class
must be rebuilt.  A fresh import would run it once, into empty registries; a
live process runs it into registries that hold what its first run put there.
Some refuse the second one (Flask, once a blueprint is registered; a dispatch
table keyed by name), and some keep serving the first (a router that matches
its routes in order).  Before the statement runs, each adapter is told of the
:class:`~hotfunc.Redefinition`, and withdraws what the old object registered;
the callback it returns is called with the object the name holds afterwards,
to put the new one where the old one was, or the old one back when the
statement failed.

hotfunc ships adapters for Flask, Starlette and FastAPI, click and typer, and
Django's model registry and admin sites; each does nothing until its
framework is imported.  A program adds its own with :func:`hotfunc.adapter`.
"""

from __future__ import annotations

from .. import _state
from ..core._redefinition import Redefinition
from ..core._settings import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..core._redefinition import Adapter, Settle

__all__ = ["Redefinition", "adapter", "withdraw"]


def built_in() -> tuple[Adapter, ...]:
    """hotfunc's own adapters, asked after the program's: each does nothing until its
    framework is imported.  Imported at the first definition run again, not by
    ``import hotfunc``, which every boot of the program pays for."""
    from . import _click, _django, _flask, _starlette

    return (
        _flask.withdraw,
        _starlette.withdraw,
        _click.withdraw_click,
        _click.withdraw_typer,
        _django.withdraw_model,
        _django.withdraw_admin,
    )


def adapter(func: Adapter) -> Adapter:
    """Ask ``func`` before every definition a save runs again; return it unchanged.

    ``func`` is called with a :class:`~hotfunc.Redefinition` before the
    statement runs.  It withdraws what ``redefinition.old`` registered, if it
    knows the registry, and may return a callable: that is called with the
    object the name holds once the statement ran (the new object, or the old
    one when the statement failed), to put it in place.  Whatever it raises
    is logged, and the statement runs regardless.  Adding the same function
    twice adds it once.
    """
    if not callable(func):
        msg = f"adapter() takes a callable of one Redefinition, not {func!r}"
        raise TypeError(msg)
    if func not in _state.adapters:
        _state.adapters.append(func)
    return func


def withdraw(redefinition: Redefinition) -> list[tuple[Adapter, Settle]]:
    """Tell every adapter that ``redefinition`` is about to run; their settles."""
    settles: list[tuple[Adapter, Settle]] = []
    for each in (*_state.adapters, *built_in()):
        try:
            settle = each(redefinition)
        except Exception as exc:
            _failed(each, redefinition, exc)
            continue
        if settle is not None:
            settles.append((each, settle))
    return settles


def settle(settles: list[tuple[Adapter, Settle]], redefinition: Redefinition, now: object) -> None:
    """Call each settle with what the name holds now; none may stop the others."""
    for each, then in settles:
        try:
            then(now)
        except Exception as exc:
            _failed(each, redefinition, exc)


def _failed(each: Adapter, redefinition: Redefinition, exc: Exception) -> None:
    name = getattr(each, "__qualname__", None) or repr(each)
    logger().warning(
        "%s:%d: the registry adapter %s raised %s: %s while %s.%s ran again; what the "
        "old definition registered may still be registered",
        redefinition.file,
        redefinition.line,
        name,
        type(exc).__name__,
        " ".join(str(exc).split()),
        redefinition.module,
        redefinition.name,
    )
    logger().debug("the adapter's traceback", exc_info=exc)
