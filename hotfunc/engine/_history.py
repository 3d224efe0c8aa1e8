"""What each hot function looked like at each version: history, diff, rollback."""

from __future__ import annotations

import os
import time
from types import FunctionType

from .._state import registry
from ..core._entry import Entry, Version
from ..core._settings import logger
from . import _swap

#: Versions kept per function; older ones are dropped.
KEEP = 20


def record(entry: Entry, source: str, func: FunctionType) -> None:
    """Keep what ``func`` runs now as the entry's current version."""
    history = entry._history
    if history is None:
        from collections import deque  # only once something was swapped

        history = entry._history = deque(maxlen=KEEP)
    history.append(Version(entry.version, entry.reloaded_at, source, func))


def history(entry: Entry) -> list[Version]:
    return list(entry._history or ())


def diff(target: object) -> str:
    """A unified diff between the last two versions of a hot function.

    Given a file's path instead, the statements the last save of that file
    ran (imports, assignments, new definitions), before and after.

    Raises:
        KeyError: ``target`` is neither hot nor the path of a watched file.
    """
    if isinstance(target, os.PathLike) or (
        isinstance(target, str) and target.endswith(".py") and os.path.isfile(target)
    ):
        return _file_diff(os.fspath(target))
    entry = registry[target]
    versions = history(entry)
    if len(versions) < 2:
        return ""
    import difflib

    old, new = versions[-2], versions[-1]
    lines = difflib.unified_diff(
        old.source.splitlines(keepends=True),
        new.source.splitlines(keepends=True),
        fromfile=f"{entry.name} v{old.version}",
        tofile=f"{entry.name} v{new.version}",
    )
    return "".join(lines)


def _file_diff(path: str) -> str:
    sources = registry.sources_at(path)
    if not sources:
        msg = f"{path!r} holds nothing hot; hotfunc watches the files of hot functions"
        raise KeyError(msg)
    import difflib

    chunks: list[str] = []
    for source in sources:
        for before, after in source.ran:
            lines = difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"{path} (before)",
                tofile=f"{path} (ran)",
            )
            chunks.append("".join(lines))
    return "".join(chunks)


def rollback(target: object) -> Entry:
    """Swap the version before the current one back in.

    The rollback is itself a new version; rolling back again goes one step
    further back.  The next save of the file moves the function forward again.

    Raises:
        KeyError: ``target`` is not hot.
        ValueError: there is no earlier version, or its closure no longer fits.
    """
    entry = registry[target]
    with entry.source.lock:
        versions = history(entry)
        current = versions[-1] if versions else None
        anchor = current.restored if current and current.restored is not None else None
        numbers = [v.version for v in versions]
        index = numbers.index(anchor) if anchor in numbers else len(versions) - 1
        if index < 1:
            msg = f"cannot roll back {entry.name!r}: no earlier version is kept"
            raise ValueError(msg)
        previous = versions[index - 1]
        funcs = entry.functions
        for func in funcs:
            if func.__code__.co_freevars != previous.code.co_freevars:
                msg = (
                    f"cannot roll back {entry.name!r} to v{previous.version}: its closure "
                    "variables differ from the live function's"
                )
                raise ValueError(msg)
        for func in funcs:
            _swap.assign(
                func,
                previous.code,
                (previous.defaults, previous.kwdefaults),
                previous.doc,
                dict(previous.annotations),
                previous.type_params,
            )
        registry.remember_code(entry, previous.code)
        entry.version += 1
        entry.reloaded_at = time.time()
        entry.error = None
        # The file still holds the newer text: forget what was compared, so
        # the next save of it, even an identical one, moves the function on.
        entry._origin = entry._definitions = None
        entry.source.digest = None
        if funcs:
            record(entry, previous.source, funcs[0])
            assert entry._history is not None
            entry._history[-1].restored = previous.version
    logger().info("rolled %s back to v%d as v%d", entry.name, previous.version, entry.version)
    return entry
