"""Read source files without ever blocking or eating memory.

The path of a hot file may come to name a FIFO, a device or a huge file
(a symlink to ``/dev/zero``): the read must return or fail at once, and a
file larger than any source file is refused.
"""

from __future__ import annotations

import errno
import os

#: Larger files are refused: no Python source is this big.
MAX_BYTES = 64 << 20

_FIRST = 1 << 16
_CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_TOO_LARGE = f"larger than {MAX_BYTES >> 20} MB, which no source file is"


class TooLarge(OSError):
    """The file is larger than :data:`MAX_BYTES`."""


def read(path: str, *, follow: bool = True) -> bytes:
    """The file's bytes in as few system calls as possible.

    Each call releases the GIL, and while the application keeps it busy,
    getting it back costs a switch interval: open, read, close and no more.
    Opening without blocking keeps a FIFO from hanging the caller; reading
    one with no writer gives nothing, which the caller treats as an empty save.
    ``follow=False`` refuses a symbolic link, as ``ELOOP``.

    Raises:
        OSError: the file cannot be opened or read.
        TooLarge: it holds more than :data:`MAX_BYTES`.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else _NOFOLLOW)
    if not follow and not _NOFOLLOW and os.path.islink(path):
        raise OSError(errno.ELOOP, "a symbolic link", path)
    fd = os.open(path, flags)
    try:
        # Most source files fit the first read, whose buffer costs less than
        # asking the file's size would.
        ask = _FIRST
        chunks = [os.read(fd, ask)]
        size = len(chunks[0])
        # A regular file returns less than asked only at its end.
        while len(chunks[-1]) == ask:
            if size > MAX_BYTES:
                raise TooLarge(0, _TOO_LARGE, path)
            ask = _CHUNK
            chunks.append(os.read(fd, ask))
            size += len(chunks[-1])
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
