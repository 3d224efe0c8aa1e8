"""hotfunc's log output: one line per message, coloured only on a terminal.

Nothing is installed while the application configures logging itself; then
hotfunc's records (logger ``"hotfunc"``) go wherever its handlers send them.
"""

from __future__ import annotations

import logging
import os
import sys

from . import _state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

_COLORS = {
    logging.DEBUG: "\033[2m",
    logging.INFO: "\033[32m",
    logging.WARNING: "\033[33m",
    logging.ERROR: "\033[31m",
    logging.CRITICAL: "\033[31;1m",
}
_RESET = "\033[0m"


def use_color(stream: TextIO) -> bool:
    """Colour only a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class LineFormatter(logging.Formatter):
    """``hotfunc: message``, with a traceback folded into the same record.

    On a terminal, colour tells a warning from news; elsewhere (a log file,
    a container's output) the level is spelled out: ``hotfunc: WARNING: ...``.
    """

    def __init__(self, color: bool) -> None:
        super().__init__("hotfunc: %(message)s")
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if _state.leader is not None:
            # A process that follows another: which one of the tree speaks.
            text = text.replace("hotfunc: ", f"hotfunc[{os.getpid()}]: ", 1)
        if self.color:
            return f"{_COLORS.get(record.levelno, '')}{text}{_RESET}"
        if record.levelno >= logging.WARNING:
            return text.replace(": ", f": {record.levelname}: ", 1)
        return text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """hotfunc's own handler, told apart from the application's."""


def install(level: int | str | None = None, color: bool | None = None) -> logging.Logger:
    """Give the ``hotfunc`` logger a stderr handler, unless logging is configured."""
    logger = logging.getLogger("hotfunc")
    if level is not None:
        logger.setLevel(level)
    ours = [h for h in logger.handlers if isinstance(h, _Handler)]
    configured = logging.getLogger().handlers or [h for h in logger.handlers if h not in ours]
    if configured and not ours:
        return logger
    handler = ours[0] if ours else _Handler(sys.stderr)
    stream = handler.stream
    handler.setFormatter(LineFormatter(use_color(stream) if color is None else color))
    if not ours:
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO if _state.leader is None else logging.WARNING)
        # Our handler prints; the application's, if it adds one later, too.
        logger.propagate = True
    return logger


def quiet() -> None:
    """In a process that follows another: only failures are said, by default.

    A level the application chose in this process (below INFO, or above
    WARNING) stays.
    """
    logger = logging.getLogger("hotfunc")
    if logger.level in (logging.NOTSET, logging.INFO):
        logger.setLevel(logging.WARNING)
