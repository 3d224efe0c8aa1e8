"""The file watcher: which folders are watched, by which back-end, and what a change does.

Folders are watched, not files: editors that save through a temporary file and
a rename replace the file, and a watch on the file itself would be lost.  The
back-end's own thread reloads the changed files, so a save reaches the code
after a single thread hand-over.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterable

from .. import _state
from .._state import registry
from ..core._entry import ReloadEvent
from ..engine._notify import publish
from ..engine._reload import reload_path, retry_pending
from . import _inotify

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Backend(Protocol):
        @property
        def thread(self) -> threading.Thread: ...

        def token(self, path: str) -> int: ...

        def settled(self, path: str, token: int, empty: bool) -> bool: ...

        def add(self, folder: str) -> None: ...

        def start(self) -> None: ...

        def stop(self) -> None: ...

        def nudge(self) -> None: ...

        def rescan(self) -> None: ...

        def abandon(self) -> None: ...


logger = logging.getLogger("hotfunc")

_THREAD_NAME = "hotfunc-watcher"

# The kernel limits that make inotify refuse a folder, and the sysctl to raise.
_INOTIFY_LIMITS = {
    errno.ENOSPC: ("fs.inotify.max_user_watches", "524288"),
    errno.EMFILE: ("fs.inotify.max_user_instances", "1024"),
}


class FileWatcher:
    """Watches the folders of registered files and reloads changed ones."""

    def __init__(self, *, polling: bool, interval: float) -> None:
        self.polling = polling
        self.interval = interval
        self._files: set[str] = set()
        self._watched_folders: set[str] = set()
        self._stopping = threading.Event()
        self._backend = self._new_backend(polling)
        self._fallback: Backend | None = None

    def _new_backend(self, polling: bool) -> Backend:
        if not polling and _inotify.available():
            try:
                return _inotify.InotifyBackend(self._changed, _THREAD_NAME)
            except OSError as exc:
                logger.warning("inotify unavailable (%s); using watchdog", exc)
        from ._watchdog import WatchdogBackend  # watchdog loads only when used

        return WatchdogBackend(
            self._changed,
            _THREAD_NAME,
            polling=polling,
            interval=self.interval,
        )

    @property
    def watched_folders(self) -> set[str]:
        """The folders watched, by notification or by polling."""
        return set(self._watched_folders)

    @property
    def backend(self) -> str:
        """Name of the back-end in use: "inotify", "watchdog" or "polling"."""
        name = type(self._backend).__name__.removesuffix("Backend").lower()
        return "polling" if self.polling else name

    def start(self, paths: Iterable[str]) -> None:
        # Start first: a limit error must surface where it can be handled, in
        # add(), not at start().
        self._backend.start()
        for path in paths:
            self.watch(path)
        # What is live must match the files: a save made while nothing
        # watched (before start(), between stop() and start(), in a forked
        # child) is applied now.
        self._backend.rescan()

    def watch(self, path: str) -> None:
        """Reload ``path`` (a real path) whenever it changes."""
        self._files.add(path)
        self.watch_folder(os.path.dirname(path))

    def watch_folder(self, folder: str) -> None:
        """Report the changes of ``folder``'s files to :meth:`applied`, reloading none."""
        if folder in self._watched_folders:
            return
        try:
            self._backend.add(folder)
        except OSError as exc:
            limit = _INOTIFY_LIMITS.get(exc.errno or 0)
            if limit is None or self.polling:
                # A folder that is missing or unreadable: the file's own reload
                # reports it, so keep watching the rest.
                logger.warning("cannot watch %s: %s", folder, exc)
                return
            self._poll(folder, exc, *limit)
        self._watched_folders.add(folder)

    def _poll(self, folder: str, exc: OSError, sysctl: str, suggested: str) -> None:
        if self._fallback is None:
            logger.warning(
                "%s; polling %s and any further folders every %s s instead. "
                "Raise the limit with: sudo sysctl %s=%s",
                exc.strerror,
                folder,
                self.interval,
                sysctl,
                suggested,
            )
            self._fallback = self._new_backend(polling=True)
            self._fallback.start()
        self._fallback.add(folder)

    def _changed(self, paths: set[str]) -> None:
        # Runs on the back-end's thread.
        if "" in paths:  # started, or the kernel dropped events: reread every file
            paths = (paths - {""}) | self._files
        for folder in [p for p in paths if p.endswith(os.sep)]:
            # A folder came back or went away: every file registered in it.
            paths.update(f for f in self._files if os.path.dirname(f) + os.sep == folder)
        backend = self._backend
        if self._fallback is not None and threading.current_thread() is self._fallback.thread:
            backend = self._fallback
        # Saves that come together (one commit, one checkout) land in the
        # order the files were first imported; then what failed anywhere
        # runs again, as the batch may have made it succeed.
        order = {s.path: i for i, s in enumerate(registry.sources())}
        events: list[ReloadEvent] = []
        for path in sorted(paths & self._files, key=lambda p: (order.get(p, len(order)), p)):
            if self._stopping.is_set():
                return
            token = backend.token(path)
            try:
                events += reload_path(path, lambda empty: backend.settled(path, token, empty))  # noqa: B023
            except Exception:  # the watcher must outlive any bug in one reload
                logger.exception("reloading %s failed", path)
        try:
            retried = retry_pending()
            publish(retried)
            events += retried
        except Exception:
            logger.exception("running pending statements again failed")
        self.applied(paths, events)

    def applied(self, paths: set[str], events: list[ReloadEvent]) -> None:
        """Called on the watcher's thread after each batch of changed paths was applied.

        ``paths`` holds every changed path of the watched folders, registered
        or not.  The test loop hears of saves here, and ``batch_listeners``.
        """
        for listener in list(_state.batch_listeners):
            try:
                listener(paths, events)
            except Exception:  # a listener must not stop the watcher
                logger.exception("%r failed on a save", listener)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching and join the threads, waiting ``timeout`` seconds at most."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        backends = [b for b in (self._backend, self._fallback) if b is not None]
        for backend in backends:
            backend.stop()
        for backend in backends:
            thread = backend.thread
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def alive(self) -> bool:
        """Whether the thread that watches and reloads is running."""
        return self._backend.thread.is_alive()

    def abandon(self) -> None:
        """Drop this watcher in a forked child, where its threads do not exist."""
        for backend in (self._backend, self._fallback):
            if backend is not None:
                backend.abandon()
