"""Linux inotify, read by one thread that also does the reload.

watchdog passes each event through several threads (the inotify reader, the
emitter, the observer).  While the application keeps the GIL busy, every such
hand-over waits out a switch interval (5 ms), so a save took tens of
milliseconds to land.  Here the thread that wakes up on the event is the one
that reloads: one hand-over, whatever the load.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import struct
import threading
from collections.abc import Callable

# From <sys/inotify.h>.
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000

# A write counts once the writer closes the file, so a half-written file is
# never read; renames and deletes cover atomic saves and backup dances.
WATCH_MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR

_EVENT = struct.Struct("iIII")
_BUFFER = 65536
_LARGEST_EVENT = _EVENT.size + 256  # NAME_MAX + 1 bytes of name
_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = libc
    return _libc


def available() -> bool:
    """Whether this platform has inotify."""
    try:
        libc = _load_libc()
    except OSError:
        return False
    return hasattr(libc, "inotify_init1")


def _os_error(what: str) -> OSError:
    code = ctypes.get_errno()
    messages = {
        errno.ENOSPC: "inotify watch limit reached",
        errno.EMFILE: "inotify instance limit reached",
    }
    return OSError(code, messages.get(code, os.strerror(code)), what)


class InotifyBackend:
    """Watches folders with one inotify descriptor; calls back with changed paths."""

    def __init__(
        self,
        on_change: Callable[[set[str]], None],
        name: str,
        on_idle: Callable[[], bool] = lambda: False,
    ) -> None:
        libc = _load_libc()
        self._on_change = on_change
        self._on_idle = on_idle
        self._fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self._fd < 0:
            raise _os_error("inotify_init1")
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._folders_by_wd: dict[int, str] = {}
        self._stopping = threading.Event()
        # Guards the descriptors: once closed, their numbers may be reused by
        # anything else in the process, so nothing may write to them.
        self._fd_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def add(self, folder: str) -> None:
        """Watch ``folder``.

        Raises:
            OSError: the kernel refused (ENOSPC past the watch limit, ENOENT...).
        """
        wd = _load_libc().inotify_add_watch(self._fd, os.fsencode(folder), WATCH_MASK)
        if wd < 0:
            raise _os_error(folder)
        self._folders_by_wd[wd] = folder

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.nudge()

    def nudge(self) -> None:
        """Wake the thread: to stop, or because there is idle work again."""
        with self._fd_lock:
            if not self._closed:
                # A full pipe means the thread is being woken already.
                with contextlib.suppress(BlockingIOError):
                    os.write(self._wake_w, b"x")

    def abandon(self) -> None:
        """Close the descriptors; in a forked child, the parent's watches stay."""
        with self._fd_lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._fd, self._wake_r, self._wake_w):
                os.close(fd)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        idle_work = True
        try:
            while not self._stopping.is_set():
                # Events first; idle work only while none are waiting.
                ready = poller.poll(0 if idle_work else None)
                if self._stopping.is_set():
                    break
                if not ready:
                    idle_work = self._on_idle()
                    continue
                if any(fd == self._wake_r for fd, _ in ready):
                    self._drain_wake()
                    idle_work = True
                changed = self._drain()
                if changed:
                    self._on_change(changed)
        finally:
            self.abandon()

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _drain(self) -> set[str]:
        """Read every event queued now; a burst of saves becomes one set of paths."""
        changed: set[str] = set()
        while True:
            try:
                data = os.read(self._fd, _BUFFER)
            except BlockingIOError:
                return changed
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    changed.add("")  # events were lost: the caller rereads everything
                elif mask & IN_IGNORED:
                    self._folders_by_wd.pop(wd, None)  # the folder is gone
                elif not mask & IN_ISDIR and wd in self._folders_by_wd:
                    changed.add(os.path.join(self._folders_by_wd[wd], os.fsdecode(name)))
            # The kernel fills the buffer with every whole event that fits; room
            # left for the largest event means the queue was empty.  Stopping
            # here saves a read that would only say so, and every system call
            # lets a busy application thread take the GIL for a switch interval.
            if len(data) <= _BUFFER - _LARGEST_EVENT:
                return changed
