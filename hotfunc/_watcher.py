"""The watchdog observer and the thread that reloads what it reports.

Imported only by ``hotfunc.start()``, so ``import hotfunc`` never loads watchdog.
Directories are watched, not files: editors that save through a temporary file
and a rename replace the file, and a watch on the file itself would be lost.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from ._reload import reload_path

logger = logging.getLogger("hotfunc")

# inotify reports a write when the writer closes the file, so a file that is
# still being written (truncated, half full) is never read.  Back-ends with no
# close event (polling, macOS FSEvents) fall back to "modified"; the content
# check in the reload makes the extra events free.
_CLOSE_EVENTS = frozenset({"closed", "moved", "deleted"})
_CHANGE_EVENTS = frozenset({"modified", "created", "moved", "deleted"})

# watchdog opens one inotify instance per watched folder, so a large project
# meets the instance limit (128 by default) before the watch limit.
_INOTIFY_LIMITS = {
    errno.ENOSPC: "fs.inotify.max_user_watches",
    errno.EMFILE: "fs.inotify.max_user_instances",
}
_INOTIFY_SUGGESTED = {
    "fs.inotify.max_user_watches": "524288",
    "fs.inotify.max_user_instances": "1024",
}


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FileWatcher, observer: BaseObserver) -> None:
        self._watcher = watcher
        self._events = (
            _CLOSE_EVENTS if type(observer).__name__ == "InotifyObserver" else _CHANGE_EVENTS
        )

    def dispatch(self, event: FileSystemEvent) -> None:
        # Runs on watchdog's thread: only note the path and wake the reloader.
        if event.is_directory or event.event_type not in self._events:
            return
        self._watcher.notice(os.fsdecode(event.src_path))
        dest = getattr(event, "dest_path", "")
        if dest:
            self._watcher.notice(os.fsdecode(dest))


class FileWatcher:
    """Watches the directories of registered files and reloads changed ones."""

    def __init__(self, *, polling: bool, interval: float) -> None:
        self.polling = polling
        self.interval = interval
        self._files: set[str] = set()
        self._watched_dirs: set[str] = set()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer = self._new_observer(polling)
        self._handler = _Handler(self, self._observer)
        self._fallback: BaseObserver | None = None
        self._thread = threading.Thread(target=self._run, name="hotfunc-reloader", daemon=True)

    def _new_observer(self, polling: bool) -> BaseObserver:
        observer: BaseObserver = PollingObserver(timeout=self.interval) if polling else Observer()
        observer.daemon = True
        observer.name = "hotfunc-observer"
        return observer

    def start(self, paths: Iterable[str]) -> None:
        # Start first: watchdog only opens inotify for a directory scheduled on
        # a running observer, and that is where a limit error must surface.
        self._observer.start()
        self._thread.start()
        for path in paths:
            self.watch(path)

    def watch(self, path: str) -> None:
        """Reload ``path`` (a real path) whenever it changes."""
        self._files.add(path)
        directory = os.path.dirname(path)
        if directory in self._watched_dirs:
            return
        try:
            self._observer.schedule(self._handler, directory, recursive=False)
        except OSError as exc:
            sysctl = _INOTIFY_LIMITS.get(exc.errno or 0)
            if sysctl is None or self.polling:
                # watchdog raises for a folder that is missing or unreadable;
                # the file's own reload reports it, so keep watching the rest.
                logger.warning("hotfunc: cannot watch %s: %s", directory, exc)
                return
            self._poll(directory, exc, sysctl)
        self._watched_dirs.add(directory)

    def _poll(self, directory: str, exc: OSError, sysctl: str) -> None:
        if self._fallback is None:
            logger.warning(
                "hotfunc: %s; polling %s and any further folders every %s s instead. "
                "Raise the limit with: sudo sysctl %s=%s",
                exc.strerror,
                directory,
                self.interval,
                sysctl,
                _INOTIFY_SUGGESTED[sysctl],
            )
            self._fallback = self._new_observer(polling=True)
            self._fallback.start()
        self._fallback.schedule(_Handler(self, self._fallback), directory, recursive=False)

    def notice(self, path: str) -> None:
        if path not in self._files:
            return
        with self._pending_lock:
            self._pending.add(path)
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            with self._pending_lock:
                paths, self._pending = self._pending, set()
                self._wake.clear()
            for path in sorted(paths):
                if self._stopping.is_set():
                    return
                try:
                    reload_path(path)
                except Exception:  # the watcher must outlive any bug in one reload
                    logger.exception("hotfunc: reloading %s failed", path)

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching and join the threads, waiting ``timeout`` seconds at most."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        observers = [o for o in (self._observer, self._fallback) if o is not None]
        for observer in observers:
            observer.stop()
        for thread in (*observers, self._thread):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
