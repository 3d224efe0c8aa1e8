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

import contextlib
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
    """What went wrong: where, the line of code there, and hotfunc's message.

    ``kind`` is ``"save"`` (a save that fails now: every page shows it) or
    ``"request"`` (a request raised in code the last save changed: the
    error pages show it).
    """

    __slots__ = ("code", "file", "kind", "line", "message")

    def __init__(self, file: str, line: int, message: str, kind: str = "save") -> None:
        self.file = file
        self.line = line
        self.message = message
        self.kind = kind
        self.code = _line_of(file, line)

    @classmethod
    def of(cls, event: ReloadEvent) -> Failure:
        file = event.file or ""
        message = event.error or f"{event.action} {event.target}"
        # The message's own file:line is where the save fails (a syntax
        # error's line); the event's is the definition it failed in.
        named = re.search(rf"{re.escape(file)}:(\d+)", message) if file else None
        return cls(file, int(named.group(1)) if named else event.line, message)

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "code": self.code,
            "message": self.message,
            "kind": self.kind,
        }


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
        #: The functions the last save changed, as (file, qualname).
        self.changed: frozenset[tuple[str, str]] = frozenset()
        #: A request that raised in one of them since.
        self.raised: Failure | None = None
        self.closed = False
        self._folders: set[str] = set()
        self._watcher: object = None
        self._listeners: list[Callable[[], None]] = []

    # -- what a page is told

    def state(self) -> dict[str, object]:
        with self._changed:
            failure = next(iter(self.failures.values()), self.raised)
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
        failed = [Failure.of(e) for e in events if not e.ok]
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
            if swapped:
                self.changed = frozenset(
                    (e.entry.code.co_filename, e.entry.qualname)
                    for e in events
                    if e.ok and e.entry is not None
                )
            if swapped or fixed or assets:
                self.raised = None
            if swapped or fixed or any(not p.endswith(".css") for p in assets):
                self.stamp = self.reload = stamp
            elif assets:
                self.stamp = stamp
            self.generation += 1
            self._changed.notify_all()
            listeners = list(self._listeners)
        _call(listeners)

    def raised_in(self, error: BaseException, traceback: TracebackType | None) -> None:
        """A request raised ``error``: told to the error pages when the last save changed
        a function it raised in (the innermost such frame)."""
        changed = self.changed
        found: Failure | None = None
        while traceback is not None and changed:
            code = traceback.tb_frame.f_code
            if (code.co_filename, code.co_qualname) in changed:
                message = (
                    f"{type(error).__name__}: {error}\n\nraised in {code.co_qualname}, "
                    "which the last save changed"
                )
                found = Failure(code.co_filename, traceback.tb_lineno, message, "request")
            traceback = traceback.tb_next
        if found is None:
            return
        with self._changed:
            self.raised = found
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
        _hear_errors()
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


def _hear_errors() -> None:
    """Hear the errors the frameworks log with their exception (Flask, Django, uvicorn,
    tornado all do): a record factory sees each record, whatever the logging setup."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "hotfunc", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        info = record.exc_info
        pages = _state.browser
        if info and info[1] is not None and pages is not None and pages.changed:
            with contextlib.suppress(Exception):  # the record is the application's
                pages.raised_in(info[1], info[2])
        return record

    factory.hotfunc = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


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


def end_streams_at_exit(module: ModuleType) -> None:
    """uvicorn's ``Server`` waits for open responses as it shuts down: end the streams first."""
    if getattr(module, "__hotfunc_browser__", False):
        return
    server = module.Server
    original = server.handle_exit

    def handle_exit(self: Any, sig: int, frame: Any) -> None:
        hub().close()
        original(self, sig, frame)

    server.handle_exit = handle_exit
    module.__hotfunc_browser__ = True  # type: ignore[attr-defined]


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
    from types import ModuleType, TracebackType
    from typing import Any
