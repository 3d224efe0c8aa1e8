"""Helpers for testing code that uses hotfunc, in your own suite or in ours."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import _api, _registry


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.002
) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds.

    Exceptions the predicate raises count as "not yet" until the deadline, so a
    predicate may call a function that is mid-reload.

    Raises:
        AssertionError: the deadline passed; the message holds the last
            exception the predicate raised, if any.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if predicate():
                return
            last = None
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last!r}" if last is not None else ""
            msg = f"condition {predicate!r} still false after {timeout} s{detail}"
            raise AssertionError(msg)
        time.sleep(interval)


def write_source(path: str | os.PathLike[str], text: str, *, atomic: bool = False) -> None:
    """Write ``text`` to ``path`` as an editor would save it.

    With ``atomic``, write a temporary file beside it and rename it into place,
    as most editors and ``sed -i`` do.
    """
    target = Path(path)
    if not atomic:
        target.write_text(text, encoding="utf-8")
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)


def reset() -> None:
    """Stop the watcher and forget every registered function and callback."""
    _api.stop()
    _registry.registry.clear()
    _registry.callbacks.clear()
