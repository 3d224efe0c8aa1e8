"""Read source files without ever blocking or eating memory.

The path of a hot file may come to name a FIFO, a device or a huge file
(a symlink to ``/dev/zero``): the read must return or fail at once, and a
file larger than any source file is refused.
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

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


def read_as_imported(read: Callable[..., bytes], filename: str) -> tuple[str | None, bytes | None]:
    """The real path of ``filename``, None if it is no file on disk; and its bytes,
    None if they cannot be read.

    Runs once per file at import: the folder is resolved once, and a final
    symbolic link is found by the open that refuses to follow one.
    """
    folder, sep, name = filename.rpartition(os.sep)
    real = real_folder(folder or (sep or os.curdir))
    path = f"{real}{os.sep}{name}" if real != os.sep else f"{os.sep}{name}"
    try:
        try:
            return path, read(path, follow=False, at_import=True)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EMLINK):  # EMLINK: BSDs
                raise
        path = os.path.realpath(path)
        return path, read(path, at_import=True)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None, None  # not a file on disk (a zip archive's member)
    except OSError:
        return path, None


def no_source_reason(filename: str, loader: object = None) -> str | None:
    """Why the function of ``filename`` cannot be reloaded, or None if it can."""
    if filename.startswith("<") and filename.endswith(">"):
        return f"no source file ({filename}): defined at a REPL or by exec(), so not reloadable"
    if not os.path.isfile(filename):
        how = f" by {type(loader).__name__}" if loader is not None else ""
        return (
            f"no source file: {filename!r} is not a file on disk (loaded{how}), "
            "so it is not reloadable"
        )
    return None
