"""The registry as a table, for the REPL: one row per hot function."""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._entry import Entry


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "-"
    seconds = max(0.0, now - moment)
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def short_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


COLUMNS = ("name", "file:line", "version", "reloaded", "status")


def title(entries: list[Entry], running: str) -> str:
    """The table's first line; ``running`` says how the watcher is."""
    files = {e.file for e in entries}
    return (
        f"hotfunc registry: {len(entries)} function{'s' if len(entries) != 1 else ''} "
        f"in {len(files)} file{'s' if len(files) != 1 else ''}, watcher {running}"
    )


def followed_by(pids: list[int]) -> str:
    """The line that counts the processes following this one's saves."""
    many = "es" if len(pids) != 1 else ""
    return f"followed by {len(pids)} process{many}: pid {', '.join(map(str, pids))}"


def rows(entries: list[Entry]) -> list[tuple[str, str, str, str, str]]:
    now = time.time()
    return [
        (
            e.name,
            f"{short_path(e.file)}:{e.lineno}",
            f"v{e.version}",
            _ago(e.reloaded_at, now),
            "ok" if e.error is None else f"error: {e.error}",
        )
        for e in entries
    ]


def format_table(
    entries: list[Entry],
    running: str,
    failures: list[str] | None = None,
    stale: list[str] | None = None,
    followers: list[int] | None = None,
) -> str:
    """Render entries as the table ``repr(registry)`` shows, then pending and stale ones."""
    lines = [title(entries, running)]
    if followers:
        lines.append(followed_by(followers))
    if entries:
        table = [COLUMNS, *rows(entries)]
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        for r in table:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, r[4]]).rstrip())
    lines.extend(f"pending: {failure}" for failure in failures or ())
    lines.extend(f"stale: {message}" for message in stale or ())
    return "\n".join(lines)


def rich_table(entries: list[Entry], state: str, followers: list[int], notes: list[str]) -> Any:
    """The table as a rich ``Table``, for ``rich.print(registry)``."""
    from rich.table import Table  # only called by rich, so it is installed

    heading = title(entries, state)
    if followers:
        heading = f"{heading}\n{followed_by(followers)}"
    table = Table(title=heading)
    for column in COLUMNS:
        table.add_column(column)
    for row in rows(entries):
        style = None if row[-1] == "ok" else "red"
        table.add_row(*row, style=style)
    if notes:
        table.caption = "\n".join(notes)
    return table
