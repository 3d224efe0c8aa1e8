"""What the open pages are told: the state of the saves, changed by each batch the watcher applied.

A page is told a *state*: ``stamp``, the time of the last change it must
show (any change); ``reload``, the time of the last change that needs the
page loaded again (anything but stylesheets alone); and ``failure``, the
save that fails now, if any.  A page knows the state it was served with, so
a page that reconnects (the server restarted) compares and reloads only
when something changed meanwhile.

Times are the changed files' modification times, not the times this process
applied them: the workers of one server each apply a save, and each tells
its pages the same time, so a page served by one worker and connected to
another agrees with both.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time

from .. import _state
from ..core._entry import ReloadEvent
from . import _templates

logger = logging.getLogger("hotfunc")

#: Files whose change reloads the pages: templates, scripts, images, data.
TEMPLATES = frozenset({".html", ".htm", ".jinja", ".jinja2", ".j2", ".djhtml", ".txt", ".xml"})
RELOADS = TEMPLATES | {".svg", ".js", ".mjs", ".json", ".png", ".jpg", ".gif", ".webp"}
STYLES = frozenset({".css"})
# Folders never looked into for templates and static files.
_SKIP = frozenset(
    {"node_modules", "__pycache__", "site-packages", "dist-packages", "build", "dist", "venv"}
)
_DEPTH = 4


class Failure:
    """A save that fails now: where, the line of code there, and hotfunc's message."""

    __slots__ = ("code", "file", "line", "message")

    def __init__(self, event: ReloadEvent) -> None:
        self.file = event.file or ""
        self.message = event.error or f"{event.action} {event.target}"
        # The message's own file:line is where the save fails (a syntax
        # error's line); the event's is the definition it failed in.
        named = re.search(rf"{re.escape(self.file)}:(\d+)", self.message) if self.file else None
        self.line = int(named.group(1)) if named else event.line
        self.code = _line_of(self.file, self.line)

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "code": self.code, "message": self.message}


def _line_of(path: str, line: int) -> str:
    if not path or line <= 0:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for number, text in enumerate(file, 1):
                if number == line:
                    return text.rstrip("\r\n")
    except OSError:
        pass
    return ""


class Hub:
    """The state the pages are told, and the streams waiting for its next change."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.generation = 0
        self.stamp = 0
        self.reload = 0
        self.failures: dict[str, Failure] = {}
        self.closed = False
        self._folders: set[str] = set()
        self._watcher: object = None
        self._listeners: list[Callable[[], None]] = []

    # -- what a page is told

    def state(self) -> dict[str, object]:
        with self._changed:
            failure = next(iter(self.failures.values()), None)
            return {
                "stamp": self.stamp,
                "reload": self.reload,
                "failure": failure.as_json() if failure is not None else None,
            }

    def message(self) -> str:
        """The state as one server-sent event."""
        return f"data: {json.dumps(self.state())}\n\n"

    def wait(self, generation: int, timeout: float) -> int:
        """Block until the state changes from ``generation`` or ``timeout`` passes; the new one."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.generation != generation or self.closed, timeout=timeout
            )
            return self.generation

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the watcher's thread) at each change: an event loop's waker."""
        with self._changed:
            self._listeners.append(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        with self._changed:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def close(self) -> None:
        """The server stops: every stream ends."""
        with self._changed:
            self.closed = True
            self.generation += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        _call(listeners)

    # -- what changes it

    def applied(self, paths: set[str], events: list[ReloadEvent]) -> None:
        """A batch of saves was applied (the watcher's ``batch_listeners``)."""
        code = [p for p in paths if p.endswith(".py")]
        assets = [p for p in paths if os.path.splitext(p)[1].lower() in RELOADS | STYLES]
        failed = [Failure(e) for e in events if not e.ok]
        swapped = any(e.ok for e in events)
        if not (failed or swapped or assets or set(code) & self.failures.keys()):
            return
        if any(os.path.splitext(p)[1].lower() in TEMPLATES for p in assets):
            _templates.clear()
        when = _modified(code + assets)
        with self._changed:
            before = dict(self.failures)
            for path in code:
                self.failures.pop(path, None)
            for failure in failed:
                self.failures[failure.file] = failure
            fixed = bool(before) and not self.failures
            stamp = max(self.stamp + 1, when)
            if swapped or fixed or any(not p.endswith(".css") for p in assets):
                self.stamp = self.reload = stamp
            elif assets:
                self.stamp = stamp
            self.generation += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        _call(listeners)

    def start(self) -> None:
        """Follow the saves: the watcher's batches, and the project's templates and styles."""
        self._watcher = _state.watcher
        with self._changed:
            if self.stamp == 0:
                self.stamp = self.reload = _modified(_state.registry.paths())
        if self.applied not in _state.batch_listeners:
            _state.batch_listeners.append(self.applied)
        self.watch_assets()

    def watch_assets(self) -> None:
        """Watch the folders below the hot files' folders that hold templates or styles."""
        watcher = _state.watcher
        if watcher is None:
            return
        roots = {os.path.dirname(p) for p in _state.registry.paths()}
        for root in sorted(roots):
            for folder in _asset_folders(root):
                if folder not in self._folders:
                    self._folders.add(folder)
                    try:
                        watcher.watch_folder(folder)
                    except Exception:  # a folder that went away: the others still count
                        logger.debug("cannot watch %s", folder, exc_info=True)


def _call(listeners: list[Callable[[], None]]) -> None:
    for listener in listeners:
        try:
            listener()
        except Exception:  # a stream's waker; its stream ends on its own
            logger.debug("waking a page's stream failed", exc_info=True)


def _modified(paths: Iterable[str]) -> int:
    """The latest modification time of ``paths``, in µs (exact in a JavaScript number);
    now when none exists."""
    latest = 0
    for path in paths:
        try:
            latest = max(latest, os.stat(path).st_mtime_ns)
        except OSError:
            continue
    return (latest or time.time_ns()) // 1000


def _asset_folders(root: str, depth: int = 0) -> list[str]:
    found: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return found
    if any(
        e.is_file() and os.path.splitext(e.name)[1].lower() in RELOADS | STYLES for e in entries
    ):
        found.append(root)
    if depth < _DEPTH:
        for entry in entries:
            name = entry.name
            if name not in _SKIP and not name.startswith(".") and entry.is_dir():
                found += _asset_folders(entry.path, depth + 1)
    return found


def hub() -> Hub:
    """The process's hub, made and started on first use."""
    found = _state.browser
    if found is None:
        with _state.lock:
            found = _state.browser
            if found is None:
                found = _state.browser = Hub()
    if found._watcher is not _state.watcher:  # the first use, or a watcher started since
        found.start()
    return found


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
