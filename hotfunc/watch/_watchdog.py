"""watchdog back-ends: polling, and native observers where there is no inotify.

Imported only when one is needed, so ``import hotfunc`` never loads watchdog.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

# Native observers other than inotify (FSEvents, kqueue, Windows) report no
# close event; the content check in the reload makes extra events free.
_CHANGE_EVENTS = frozenset({"modified", "created", "moved", "deleted", "closed"})


class _Handler(FileSystemEventHandler):
    def __init__(self, on_change: Callable[[set[str]], None]) -> None:
        self._on_change = on_change

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in _CHANGE_EVENTS:
            return
        paths = {os.fsdecode(event.src_path)}
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.add(os.fsdecode(dest))
        self._on_change(paths)


class WatchdogBackend:
    """A watchdog observer whose dispatch thread reloads what it reports."""

    def __init__(
        self,
        on_change: Callable[[set[str]], None],
        name: str,
        *,
        polling: bool,
        interval: float,
    ) -> None:
        self._observer: BaseObserver = PollingObserver(timeout=interval) if polling else Observer()
        self._observer.daemon = True
        self._observer.name = name
        self._handler = _Handler(on_change)
        self._on_change = on_change

    @property
    def thread(self) -> BaseObserver:
        return self._observer

    def token(self, path: str) -> int:
        return 0

    def settled(self, path: str, token: int, empty: bool) -> bool:
        """Always true: watchdog reports no write in progress to wait for."""
        return True

    def add(self, folder: str) -> None:
        """Watch ``folder``; raises OSError as the observer does."""
        self._observer.schedule(self._handler, folder, recursive=False)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()

    def nudge(self) -> None:
        """Nothing to wake: the observer's thread polls or waits on the OS itself."""

    def rescan(self) -> None:
        """Report every file once, from a short-lived thread of its own."""
        threading.Thread(
            target=self._on_change, args=({""},), name="hotfunc-rescan", daemon=True
        ).start()

    def abandon(self) -> None:
        """Nothing to release: a forked child has none of the observer's threads."""
