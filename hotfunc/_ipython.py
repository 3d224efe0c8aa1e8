"""IPython and Jupyter: ``%load_ext hotfunc`` and the ``%hot`` magic.

Nothing here imports IPython; IPython hands the shell in.
"""

from __future__ import annotations

from types import ModuleType

from . import _api
from ._state import registry
from .engine._decorator import hot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Text(str):
    """A string IPython displays as itself, not as a quoted repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hotfunc``: start the watcher and add the ``%hot`` magic."""
    _api.start()

    def hot_magic(line: str) -> _Text:
        """%hot: the registry table.  %hot NAME: one entry and its history.

        %hot MODULE makes every function and class of an imported module hot,
        without re-executing it.
        """
        expression = line.strip()
        if not expression:
            return _Text(_api.status())
        target = ipython.ev(expression)
        if isinstance(target, ModuleType):
            hot(target)
            mine = [e for e in registry.entries() if e.module == target.__name__]
            return _Text(f"{len(mine)} hot functions in {target.__name__}\n{_api.status()}")
        return _Text(registry[target].describe())

    ipython.register_magic_function(hot_magic, magic_kind="line", magic_name="hot")


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hotfunc``: stop the watcher."""
    _api.stop()
