"""A file that holds hot functions, and the text its live code came from."""

from __future__ import annotations

import _thread
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FunctionType
    from typing import Any

    from ..engine._recompile import CompiledSource
    from ._entry import Entry


class _Compressed:
    """Imported bytes, compressed until the file's first edit needs them."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


#: ``SourceFile.digest`` until the digest of the bytes read at import is taken.
AS_IMPORTED = (-1, 0)


class SourceFile:
    """A file that holds hot functions, with the text they were last built from."""

    __slots__ = (
        "baseline",
        "deferred",
        "digest",
        "earlier",
        "entries",
        "failures",
        "filename",
        "imported",
        "lock",
        "moving",
        "namespace",
        "packed",
        "path",
        "pinned",
        "ran",
        "register",
        "saved_at",
        "seen",
        "stale",
    )

    def __init__(self, filename: str, path: str | None, data: bytes | None) -> None:
        #: The name code objects carry (``co_filename``), used to recompile so
        #: tracebacks keep naming the file the way the import did.
        self.filename = filename
        #: One reload of this file at a time: held across reading it and
        #: running the application's code (defaults, changed statements).
        #: Other files, imports, stop() and the registry never wait on it.
        self.lock = _thread.RLock()
        #: Absolute real path, or None when there is no file to read.
        self.path = path
        self.entries: list[Entry] = []
        #: Hot functions of this file that have no entry yet, as ``@hot`` saw
        #: them.  An entry is built when something asks for it: a look-up, a
        #: listing, or an edit of the lines its ``def`` stands on.  Until then
        #: an edit elsewhere costs such a function at most a line shift.
        #: Held strongly, as the module's namespace holds them: a weak
        #: reference would cost an object per function at every boot.
        self.deferred: list[FunctionType] = []
        #: Held while the deferred functions are given new line numbers, so
        #: that no entry is built from a code object being replaced.  Never
        #: held across the application's code.
        self.moving = _thread.RLock()
        #: ``hot(module)``: registers the module's functions on first need.
        self.register: Callable[[dict[str, Any]], None] | None = None
        #: Length and hash of the bytes last read, good or bad: a save that
        #: changes nothing is skipped; None makes the next read count as a
        #: change.  Those of the bytes read at import are taken when they are
        #: compressed, or by the first reload.
        self.digest: tuple[int, int] | None = AS_IMPORTED
        #: The bytes as imported, until they are compiled as the baseline of
        #: the first edit; compressed soon after import.
        self.imported: bytes | _Compressed | None = data
        #: The last text that compiled, compiled: what the live code was built
        #: from, and what the next edit is compared with.
        self.baseline: CompiledSource | None = None
        #: The module's globals, where changed top-level statements run.
        self.namespace: dict[str, Any] | None = None
        #: ``file:line`` messages of statements whose run failed; they are
        #: retried at every save until they run.
        self.failures: list[str] = []
        #: Kept while no function of it is alive: a module made hot whole.
        self.pinned = False
        #: The statements the last save that ran any ran: (text before, text after).
        self.ran: list[tuple[str, str]] = []
        #: The count of saves (``_state.saves``) at this file's last
        #: applied save; 0 while it holds the text as imported.
        self.saved_at = 0
        #: ``(saved_at, zlib-compressed live text)``, as shipped to the
        #: workers of a cluster that follows this process.
        self.packed: tuple[int, bytes] | None = None
        #: The texts the live module had before, zlib-compressed, the latest
        #: last; kept while a cluster follows: a worker finds among them the
        #: one it imported.
        self.earlier: list[bytes] = []
        #: ``time.time()`` when the file was read at registration.
        self.seen = time.time()
        #: What a save left unlike a fresh import and said so: a message by
        #: the text of the statement it concerns, kept while that text stays.
        self.stale: dict[str, str] = {}

    def compress(self) -> None:
        data = self.imported
        if isinstance(data, bytes):
            import zlib  # only once something is registered

            if self.digest is AS_IMPORTED:
                self.digest = (len(data), hash(data))
            compressed = _Compressed(zlib.compress(data, 1))
            # One assignment: a reader sees the bytes or the compressed form;
            # and none once the first edit no longer needs them.
            if self.imported is data:
                self.imported = compressed

    def imported_bytes(self) -> bytes | None:
        data = self.imported
        if not isinstance(data, _Compressed):
            return data
        import zlib

        return zlib.decompress(data.data)

    def live_text(self) -> str:
        """The text the live module was last built from: the last save applied,
        or the import; "" when neither is known."""
        if self.baseline is not None:
            return self.baseline.text
        imported = self.imported_bytes()
        if imported is None:
            return ""
        from ._text import decode

        try:
            return decode(imported)
        except (SyntaxError, UnicodeDecodeError):
            return ""
