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
import errno
import math
import os
import select
import struct
import threading
import time
from collections.abc import Callable

# From <sys/inotify.h>.
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000

# A write counts once the writer closes the file, so a half-written file is
# never read: a modification opens a write, the close ends it.  Renames and
# deletes cover atomic saves and backup dances; a mode change may make an
# unreadable file readable again.  A folder deleted or moved away is noticed
# through its own watch, and its return through its parent's (IN_CREATE).
WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_MASK_ADD
)
_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
_ARRIVED = IN_CREATE | IN_MOVED_TO

# A writer that modified a file and has not closed it after this long is
# taken as done (one that keeps the file open), so the save is not lost.
STALE_WRITE = 1.0

_EVENT = struct.Struct("iIII")
_BUFFER = 65536
_LARGEST_EVENT = _EVENT.size + 256  # NAME_MAX + 1 bytes of name
_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        # The process's own symbols hold the C library's; looking for it by
        # name (ctypes.util) would import subprocess, tempfile and shutil.
        libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(libc, "inotify_init1"):
            from ctypes.util import find_library

            libc = ctypes.CDLL(find_library("c") or None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
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
    """Watches folders with one inotify descriptor; calls back with changed paths.

    A path ending in the path separator stands for every file in that folder:
    the folder came back, and what it holds now may differ.  The empty path
    stands for every file: events were lost, or the watch just started.
    """

    def __init__(
        self,
        on_change: Callable[[set[str]], None],
        name: str,
    ) -> None:
        libc = _load_libc()
        self._on_change = on_change
        self._fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self._fd < 0:
            raise _os_error("inotify_init1")
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._folders_by_wd: dict[int, str] = {}
        #: Folders asked for, and those of them that are gone for now.
        self._wanted: set[str] = set()
        self._lost: set[str] = set()
        #: Files being written: modified, not closed yet, and since when.
        self._writing: dict[str, float] = {}
        #: Paths changed and not yet reported ("" for every file).
        self._changed: set[str] = set()
        #: How many events each path has had, to tell whether a read raced a write.
        self._events_by_path: dict[str, int] = {}
        #: Files read empty once, and waited for.
        self._waited: set[str] = set()
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
        self._wanted.add(folder)
        self._add_watch(folder)

    def _add_watch(self, folder: str) -> None:
        wd = _load_libc().inotify_add_watch(self._fd, os.fsencode(folder), WATCH_MASK)
        if wd < 0:
            raise _os_error(folder)
        self._folders_by_wd[wd] = folder

    def token(self, path: str) -> int:
        """A mark to hand to :meth:`settled` before reading ``path``."""
        return self._events_by_path.get(path, 0)

    def settled(self, path: str, token: int, empty: bool) -> bool:
        """Whether a read of ``path`` since ``token`` saw one save whole.

        Reads the events queued meanwhile; whatever they report is handled
        next.  An event since ``token`` means a write raced the read.  So may
        an empty read: the kernel queues a truncation's event a moment after
        truncating, so a read in between finds nothing to report yet.  An
        empty file is read once more after a pause before it counts.
        """
        self._drain()
        if self._events_by_path.get(path, 0) != token or path in self._writing:
            return False
        if empty and path not in self._waited:
            self._waited.add(path)
            self._writing[path] = time.monotonic()  # reported again when it expires
            return False
        self._waited.discard(path)
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.nudge()

    def rescan(self) -> None:
        """Report every file once: saves made while nothing watched must not be missed."""
        self._changed.add("")
        self.nudge()

    def nudge(self) -> None:
        """Wake the thread: to stop, or to report what rescan() asked for."""
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
        try:
            while not self._stopping.is_set():
                if self._changed:
                    changed, self._changed = self._changed, set()
                    self._on_change(changed)
                    continue
                # Sleeps until an event, or until a write left open goes stale.
                ready = poller.poll(math.ceil(STALE_WRITE * 1000) if self._writing else None)
                if self._stopping.is_set():
                    break
                self._expire_writes()
                if any(fd == self._wake_r for fd, _ in ready):
                    self._drain_wake()
                self._drain()
        finally:
            self.abandon()

    def _expire_writes(self) -> None:
        if not self._writing:
            return
        now = time.monotonic()
        for path, since in list(self._writing.items()):
            if now - since >= STALE_WRITE:
                del self._writing[path]
                self._changed.add(path)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _drain(self) -> None:
        """Read every event queued now; a burst of saves becomes one set of paths."""
        while True:
            try:
                data = os.read(self._fd, _BUFFER)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                self._event(wd, mask, os.fsdecode(name))
            # The kernel fills the buffer with every whole event that fits; room
            # left for the largest event means the queue was empty.  Stopping
            # here saves a read that would only say so, and every system call
            # lets a busy application thread take the GIL for a switch interval.
            if len(data) <= _BUFFER - _LARGEST_EVENT:
                return

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self._changed.add("")  # events were lost: the caller rereads everything
            return
        folder = self._folders_by_wd.get(wd)
        if folder is None:
            return
        if mask & _GONE:
            self._gone(wd, folder, mask)
            return
        path = os.path.join(folder, name)
        if mask & IN_ISDIR:
            if mask & _ARRIVED:
                self._arrived(path)
            return
        self._events_by_path[path] = self._events_by_path.get(path, 0) + 1
        if mask & IN_MODIFY:
            # A write began or goes on: wait for its close.
            self._writing[path] = time.monotonic()
            self._changed.discard(path)
        elif mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE):
            self._writing.pop(path, None)
            self._changed.add(path)
        elif mask & (IN_ATTRIB | IN_CREATE) and path not in self._writing:
            # A mode change, or a file that appears without a write (a link).
            self._changed.add(path)

    def _gone(self, wd: int, folder: str, mask: int) -> None:
        """A watched folder was deleted or moved away: its files are gone from its path."""
        del self._folders_by_wd[wd]
        if mask & IN_MOVE_SELF:
            # The watch follows the folder to its new name; events from there
            # must not be taken for this path's.
            _load_libc().inotify_rm_watch(self._fd, wd)
        if folder in self._wanted:
            self._lost.add(folder)
            self._changed.add(folder + os.sep)
            self._rearm(folder)

    def _arrived(self, path: str) -> None:
        """A folder appeared at ``path``: re-arm the lost folders it is, or leads to."""
        for lost in sorted(self._lost):
            if lost == path or lost.startswith(path + os.sep):
                self._rearm(lost)

    def _rearm(self, folder: str) -> None:
        """Watch ``folder`` again, or its nearest ancestor until it comes back."""
        while folder in self._lost:
            try:
                self._add_watch(folder)
            except OSError:
                pass
            else:
                self._lost.discard(folder)
                self._changed.add(folder + os.sep)  # files saved before the watch
                return
            # Watch the nearest ancestor there is, for the folder's return.
            ancestor = os.path.dirname(folder)
            while ancestor and ancestor != os.path.dirname(ancestor):
                try:
                    self._add_watch(ancestor)
                    break
                except OSError:
                    ancestor = os.path.dirname(ancestor)
            if not os.path.isdir(folder):
                return  # its creation will come as an event
            # It came back before the ancestor's watch: try again now.
