"""Switches: from the environment at import time, and from ``configure()``.

The one ``Settings`` object lives in ``_state``, with the rest of the
global state; this module only says what the switches are and how the
environment spells them.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from ._entry import ReloadEvent


def logger() -> logging.Logger:
    """The ``hotfunc`` logger; the logging module is imported on first use."""
    import logging

    return logging.getLogger("hotfunc")


_TRUE = ("1", "true", "yes", "y", "on")
_FALSE = ("0", "false", "no", "n", "off")


def env_flag(name: str, default: bool) -> bool:
    """A yes/no environment variable; an unknown value warns and keeps ``default``."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    logger().warning(
        "%s=%r is not understood; use one of %s to turn it on or %s to turn it off; "
        "keeping the default (%s)",
        name,
        raw,
        ", ".join(_TRUE),
        ", ".join(_FALSE),
        "on" if default else "off",
    )
    return default


class Settings:
    """Switches: from the environment at import time, and from ``configure()``."""

    __slots__ = (
        "disabled",
        "follow_children",
        "on_error",
        "polling",
        "run_readers",
        "run_statements",
    )

    def __init__(self) -> None:
        #: ``HOTFUNC_DISABLE``: @hot registers nothing, start() does nothing.
        self.disabled = env_flag("HOTFUNC_DISABLE", False)
        #: ``HOTFUNC_POLLING``: start() polls instead of using notifications.
        self.polling = env_flag("HOTFUNC_POLLING", False)
        #: ``HOTFUNC_RUN_STATEMENTS``: a save runs its new and changed
        #: top-level statements; off, only hot function bodies ever change.
        self.run_statements = env_flag("HOTFUNC_RUN_STATEMENTS", True)
        #: ``HOTFUNC_RUN_READERS``: an unchanged statement that reads a name a
        #: save changed runs again even though it calls code.  Off by default:
        #: a call may have side effects.
        self.run_readers = env_flag("HOTFUNC_RUN_READERS", False)
        #: ``HOTFUNC_FOLLOW_CHILDREN``: Python processes started by a hot
        #: process become hot the same way and apply the same saves.
        self.follow_children = env_flag("HOTFUNC_FOLLOW_CHILDREN", True)
        #: What a failed reload does besides keeping the last good code:
        #: "log", "raise" (at the function's next calls), or a callable.
        self.on_error: str | Callable[[ReloadEvent], object] = "log"
