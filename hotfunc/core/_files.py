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


# Resolving a path costs a system call per component; modules come from few
# folders, so each folder is resolved once.
_real_folders: dict[str, str] = {}


def real_folder(folder: str) -> str:
    """``os.path.realpath(folder)``, resolved once per folder."""
    real = _real_folders.get(folder)
    if real is None:
        real = _real_folders[folder] = os.path.realpath(folder)
    return real


class TooLarge(OSError):
    """The file is larger than :data:`MAX_BYTES`."""


def read(path: str, *, follow: bool = True, at_import: bool = False) -> bytes:
    """The file's bytes in as few system calls as possible.

    Each call releases the GIL, and while the application keeps it busy,
    getting it back costs a switch interval: a reload opens, reads and
    closes, and no more.  At import nothing else runs, and the first read
    asks for less: a buffer far larger than the file costs more than the
    read.  Opening without blocking keeps a FIFO from hanging the caller;
    reading one with no writer gives nothing, which the caller treats as an
    empty save.  ``follow=False`` refuses a symbolic link, as ``ELOOP``.

    Raises:
        OSError: the file cannot be opened or read.
        TooLarge: it holds more than :data:`MAX_BYTES`.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else _NOFOLLOW)
    if not follow and not _NOFOLLOW and os.path.islink(path):
        raise OSError(errno.ELOOP, "a symbolic link", path)
    fd = os.open(path, flags)
    try:
        ask = _FIRST if at_import else _CHUNK
        data = os.read(fd, ask)
        if len(data) < ask:
            return data
        if at_import:
            # A larger file is read again whole, into one buffer of its
            # size: chunks joined leave the allocator with free memory it
            # may keep for good.  A FIFO or a device says 0.
            size = os.fstat(fd).st_size
            if size > MAX_BYTES:
                raise TooLarge(0, _TOO_LARGE, path)
            if size >= ask:
                data = os.pread(fd, size + 1, 0)
                if len(data) <= size:
                    return data
                os.lseek(fd, len(data), os.SEEK_SET)  # it grew meanwhile: read on
        # A regular file returns less than asked only at its end; a device
        # never does, and stops at the cap.
        chunks, total = [data], len(data)
        while True:
            if total > MAX_BYTES:
                raise TooLarge(0, _TOO_LARGE, path)
            chunk = os.read(fd, _CHUNK)
            chunks.append(chunk)
            total += len(chunk)
            if len(chunk) < _CHUNK:
                break
    finally:
        os.close(fd)
    return b"".join(chunks)
