"""Read source files without ever blocking or eating memory.

The path of a hot file may come to name a FIFO, a device or a huge file
(a symlink to ``/dev/zero``): the read must return or fail at once, and a
file larger than any source file is refused.
"""

from __future__ import annotations

import os

#: Larger files are refused: no Python source is this big.
MAX_BYTES = 16 << 20

_CHUNK = 1 << 20


class TooLarge(OSError):
    """The file is larger than :data:`MAX_BYTES`."""


def read(path: str) -> bytes:
    """The file's bytes in as few system calls as possible.

    Each call releases the GIL, and while the application keeps it busy,
    getting it back costs a switch interval: open, read, close and no more.
    Opening without blocking keeps a FIFO from hanging the caller; reading
    one with no writer gives nothing, which the caller treats as an empty save.

    Raises:
        OSError: the file cannot be opened or read.
        TooLarge: it holds more than :data:`MAX_BYTES`.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        chunks = [os.read(fd, _CHUNK)]
        size = len(chunks[0])
        # A regular file returns less than asked only at its end.
        while len(chunks[-1]) == _CHUNK:
            if size > MAX_BYTES:
                msg = f"larger than {MAX_BYTES >> 20} MB, which no source file is"
                raise TooLarge(0, msg, path)
            chunks.append(os.read(fd, _CHUNK))
            size += len(chunks[-1])
    finally:
        os.close(fd)
    return b"".join(chunks)
