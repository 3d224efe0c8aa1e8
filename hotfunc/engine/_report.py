"""Turn what one save did into one log line, the events, and the registry's state.

The line claims what hotfunc did (a swap, a statement run), not its effect:
a function swapped in place runs its new code at its next call, and a
function that is never called again, like the one that built the app at
boot, is swapped all the same.
"""

from __future__ import annotations

import logging

from ..core._entry import Entry, ReloadEvent
from ..core._sourcefile import SourceFile
from ..core._table import short_path
from ._apply import Result

logger = logging.getLogger("hotfunc")

# The order the line lists what happened in.
_VERBS = ("ran", "added", "redefined", "rebuilt", "rebound", "updated", "moved", "skipped")


class Swap:
    """What the engine did to one entry, and the error it had before."""

    __slots__ = ("entry", "error", "previous", "running", "swapped")

    def __init__(
        self, entry: Entry, error: str | None, swapped: bool, previous: str | None
    ) -> None:
        self.entry = entry
        self.error = error
        self.swapped = swapped
        self.previous = previous
        #: Calls of the function running the old code when it was swapped.
        self.running = 0


#: Names a save's line lists before it counts the rest: a save that swaps
#: thousands of functions still logs one readable line.
LISTED = 10


def _listed(names: list[str]) -> str:
    if len(names) <= LISTED:
        return ", ".join(names)
    return f"{', '.join(names[:LISTED])} and {len(names) - LISTED} more"


def _swapped(swap: Swap) -> str:
    entry = swap.entry
    text = f"{entry.qualname} v{entry.version}"
    if swap.running:
        calls = "1 call" if swap.running == 1 else f"{swap.running} calls"
        return (
            f"{text} ({entry.qualname} is running ({calls}): that call keeps the old "
            "code until it returns)"
        )
    return text


def report(
    source: SourceFile,
    path: str,
    swaps: list[Swap],
    results: list[Result],
    duration: float,
    stale: list[str] | None = None,
) -> list[ReloadEvent]:
    """Log the save, update errors in the registry, and return its events."""
    parts: list[str] = []
    swapped = [s for s in swaps if s.swapped]
    if swapped:
        parts.append("swapped " + _listed([_swapped(s) for s in swapped]))
    for verb in _VERBS:
        targets = [r.target for r in results if r.verb == verb]
        if targets:
            parts.append(f"{verb}: " + _listed(targets))
    if parts:
        logger.info("%s: %s (%.1f ms)", short_path(path), "; ".join(parts), duration * 1e3)
    for result in results:
        for note in result.notes:
            logger.info("%s", note)

    events: list[ReloadEvent] = []
    for swap in swaps:
        entry, error = swap.entry, swap.error
        if error is not None and error != swap.previous:
            logger.warning("%s", error)
        if swap.swapped or error is not None or swap.previous is not None:
            action = "swapped" if swap.swapped else "failed" if error else "recovered"
            events.append(
                ReloadEvent(entry, error is None, error, duration, entry.version, action=action)
            )

    failures = [r.error for r in results if r.error is not None]
    for result in results:
        if result.error is not None and result.error not in source.failures:
            logger.warning("%s", result.error)
        events.append(
            ReloadEvent(
                None,
                result.error is None,
                result.error,
                duration,
                0,
                action=result.verb,
                target=result.target,
                file=path,
                line=result.line,
            )
        )
    source.failures = failures
    for message in stale or ():
        logger.warning("%s", message)
        events.append(ReloadEvent(None, True, message, duration, 0, action="stale", file=path))
    return events
