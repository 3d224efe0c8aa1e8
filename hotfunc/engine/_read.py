"""The first stages of a save: its bytes read and decoded, then compiled near the edit.

Each stage returns what the next takes, or the message of a failure, with
``file:line``, that keeps the file on its last good code.
"""

from __future__ import annotations

import contextlib
import os
import stat

from .._state import registry
from ..core import _text
from ..core._sourcefile import AS_IMPORTED, SourceFile
from . import _incremental, _recompile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Failed(str):
    """Why a stage could not go on: ``file:line: what; what is kept``."""

    __slots__ = ()


class Text:
    """What a save wrote: the file's path and its decoded text."""

    __slots__ = ("path", "text")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text


class Compiled:
    """The text the live code came from, and the saved text compiled against it."""

    __slots__ = ("baseline", "compiled", "path")

    def __init__(
        self,
        path: str,
        baseline: _recompile.CompiledSource | None,
        compiled: _recompile.CompiledSource,
    ) -> None:
        self.path = path
        self.baseline = baseline
        self.compiled = compiled


def read(source: SourceFile, settled: Callable[[bool], bool] | None) -> Text | Failed | None:
    """The saved text of ``source``; None when there is nothing to apply.

    ``settled``, called with whether the file was empty, says whether the
    read saw one save whole; when it says no (a write was under way), the
    watcher reads again once the write is closed.
    """
    path = source.path
    if path is None or (not source.entries and not source.deferred and source.namespace is None):
        return None
    try:
        data = registry.read_source(path)
    except FileNotFoundError:
        source.digest = None
        return Failed(f"{path}:1: file deleted; keeping the last good code until it reappears")
    except OSError as exc:
        source.digest = None
        return Failed(f"{path}:1: cannot read the file: {exc.strerror}; keeping the last good code")
    # Blank, without a copy of the bytes: a large file's strip() costs a copy.
    blank = not data or data.isspace()
    if settled is not None and not settled(blank):
        return None  # caught mid-save: the close of that write brings it back
    digest = (len(data), hash(data))
    if source.digest is AS_IMPORTED:
        imported = source.imported_bytes()
        source.digest = None if imported is None else (len(imported), hash(imported))
    if digest == source.digest and not source.failures:
        return None
    baseline(source)  # before the digest moves on: the import's text is still known
    source.digest = digest
    if blank:
        what = "file is empty (a save in progress?)"
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(os.stat(path).st_mode):
                what = "not a regular file (a FIFO, a device?), so it is not read"
        return Failed(f"{path}:1: {what}; keeping the last good code")
    try:
        text = _text.decode(data)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Failed(
            f"{path}:{line}: cannot decode the file as {exc.encoding}: "
            f"{exc.reason}; declare its encoding with a '# -*- coding: ... -*-' line"
        )
    except SyntaxError as exc:
        return Failed(f"{path}:{exc.lineno or 1}: {exc.msg}; keeping the last good code")
    if b"\0" in data:
        # Python says "null bytes" without a line; point at the first one.
        line = data[: data.index(b"\0")].count(b"\n") + 1
        return Failed(
            f"{path}:{line}: the file holds a null byte, which Python source cannot; "
            "keeping the last good code"
        )
    return Text(path, text)


def compile_text(source: SourceFile, saved: Text) -> Compiled | Failed:
    """The saved text compiled: only the statements near the edit, once there is a baseline."""
    old = source.baseline
    try:
        if old is None:
            compiled = _recompile.compile_source(saved.text, source.filename)
        else:
            compiled = _incremental.update_source(old, saved.text, source.filename)
    except SyntaxError as exc:
        return Failed(
            f"{saved.path}:{exc.lineno or 1}: {type(exc).__name__}: {exc.msg}; "
            "keeping the last good code"
        )
    except ValueError as exc:
        return Failed(f"{saved.path}:1: {exc}; keeping the last good code")
    return Compiled(saved.path, old, compiled)


def baseline(source: SourceFile) -> _recompile.CompiledSource | None:
    """The text the live code came from: the imported text, unparsed, until an edit.

    Nothing is compiled ahead of an edit: the first edit parses only the
    statements around it, whatever the size of the file.
    """
    imported = source.imported_bytes()
    if source.baseline is None and imported is not None:
        try:
            source.baseline = _incremental.unparsed(_text.decode(imported))
        except (SyntaxError, UnicodeDecodeError):  # it imported, so it decodes
            source.baseline = None
        source.imported = None
    return source.baseline
