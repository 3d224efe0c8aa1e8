"""Source text: decoded as the import system does, split into lines as the
compiler numbers them, and compared with the last good text."""

from __future__ import annotations

import importlib.util
import itertools

# decode_source() imports tokenize on first use.  Imported here, before the
# watcher thread exists: a child forked while that thread is half-way
# through an import would keep a half-made module for good.
import tokenize  # noqa: F401


def decode(data: bytes) -> str:
    """Decode source bytes as the import system does.

    Honours a PEP 263 coding cookie and a UTF-8 BOM, and turns CRLF into LF.

    Raises:
        SyntaxError: the coding cookie names an unknown encoding.
        UnicodeDecodeError: the bytes do not decode.
    """
    return importlib.util.decode_source(data)


# Characters str.splitlines() breaks at that do not end a line of Python
# source: a form feed on a line of its own is common between sections.
_NOT_NEWLINES = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_NOT_NEWLINES_WIDE = (*_NOT_NEWLINES, "\x85", "\u2028", "\u2029")


def line_starts(lines: list[str]) -> list[int]:
    """The offset in the joined text at which each of ``lines`` starts, then its end."""
    return [0, *itertools.accumulate(map(len, lines))]


def split_lines(text: str) -> list[str]:
    """``text``'s lines, with their ends, as the compiler numbers them: at ``\n`` only."""
    odd = _NOT_NEWLINES if text.isascii() else _NOT_NEWLINES_WIDE
    if not any(c in text for c in odd):
        return text.splitlines(keepends=True)  # the same, and far faster
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


def changed_lines(old: str, new: str, lines: int) -> tuple[int, int, str] | None:
    """How many whole lines ``old`` (of ``lines`` lines) and ``new`` share at the
    start and at the end, and the text of ``new`` between them; None if the texts
    are the same.

    Works on the texts, in C, and counts lines over the shorter side of the
    edit: a large file is never split whole.
    """
    common = _common_start(old, new)
    if common == len(old) == len(new):
        return None
    # The first line that differs starts at the same offset in both texts.
    start = old.rfind("\n", 0, common) + 1
    if start <= len(old) // 2:
        same = old.count("\n", 0, start)
    else:
        same = lines - _lines_in(old, start, len(old))
    # The common end, kept clear of the common lines at the start.
    common = _common_end(old, new, min(len(old), len(new)) - start)
    old_end, new_end = len(old) - common, len(new) - common
    # Lines of the common end count when they start a line in both texts.
    if (old_end == 0 or old[old_end - 1] == "\n") and (new_end == 0 or new[new_end - 1] == "\n"):
        tail_start = old_end
    else:
        tail_start = old.find("\n", old_end) + 1 or len(old)
    tail = lines - same - _lines_in(old, start, tail_start)
    return same, tail, new[start : len(new) - (len(old) - tail_start)]


def _lines_in(text: str, start: int, end: int) -> int:
    """How many lines of ``text`` start in ``[start, end)``; ``start`` starts one,
    and ``end`` does or is the end of the text."""
    count = text.count("\n", start, end)
    return count + 1 if end == len(text) and end > start and text[-1] != "\n" else count


_CHUNK = 1 << 16


def _common_start(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    limit = min(len(a), len(b))
    low = 0
    while low + _CHUNK <= limit and a[low : low + _CHUNK] == b[low : low + _CHUNK]:
        low += _CHUNK
    high = min(low + _CHUNK, limit)
    while low < high:  # the first difference lies in [low, high]
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_end(a: str, b: str, limit: int) -> int:
    """How many trailing characters ``a`` and ``b`` share, ``limit`` at most."""
    same = 0
    while (
        same + _CHUNK <= limit
        and a[len(a) - same - _CHUNK : len(a) - same] == b[len(b) - same - _CHUNK : len(b) - same]
    ):
        same += _CHUNK
    high = min(same + _CHUNK, limit)
    while same < high:
        middle = (same + high + 1) // 2
        if a[len(a) - middle : len(a) - same] == b[len(b) - middle : len(b) - same]:
            same = middle
        else:
            high = middle - 1
    return same
