"""Start and stop the watcher, reload on demand, subscribe to reloads."""

from __future__ import annotations

import os
import sys

from . import _state
from ._state import lock, registry, settings
from .core._settings import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._state import ReloadCallback
    from .core._entry import ReloadEvent
    from .core._sourcefile import SourceFile


def start(*, polling: bool | None = None, interval: float = 0.5) -> None:
    """Start watching every file that holds a hot function.

    Idempotent: a second call does nothing.  One thread watches each folder
    once, however many files and functions it holds, and reloads what
    changes; files registered later are added as they appear.  On Linux it
    reads inotify directly; elsewhere, and when polling, a watchdog observer
    does the watching.

    Args:
        polling: poll file stat results instead of using OS notifications
            (inotify).  Needed where notifications never arrive: Docker
            Desktop and VirtualBox shared folders, WSL2 ``/mnt`` paths,
            network mounts.  Defaults to the ``HOTFUNC_POLLING`` variable.
        interval: seconds between polls when polling.

    Raises:
        ValueError: ``interval`` is not positive.
    """
    _start(polling, interval, None)


def _start(
    polling: bool | None,
    interval: float,
    announce: str | None,
    *,
    watch: list[str] | None = None,
    quiet: bool = False,
) -> None:
    """start(), with what the startup line says in place of the files watched.

    ``watch`` holds ``run``'s patterns, for the children that follow;
    ``quiet`` starts a following process's watcher, which says nothing.
    """
    if interval <= 0:
        msg = f"interval must be greater than 0 to avoid spinning, not {interval!r}"
        raise ValueError(msg)
    if settings.disabled:
        from . import _logging

        _logging.install().info("HOTFUNC_DISABLE is set; not watching any file")
        return
    with lock:
        if _state.watcher is not None:
            if _state.watcher.alive():
                return
            # Its thread died (it must not, but a host process can do
            # anything to a thread): start another.
            logger().warning("the hotfunc watcher thread had stopped; starting a new one")
            _state.watcher.abandon()
            _state.watcher = None
        from .watch._watcher import FileWatcher  # watchdog loads only now

        watcher = FileWatcher(
            polling=settings.polling if polling is None else polling, interval=interval
        )
        watcher.start(registry.paths())
        _state.watcher = watcher
        _state.started = True
    from . import _logging
    from .processes import _follow

    _follow.lead(watch, watcher.polling, watcher.interval)
    # Also in a following process: a framework reloader's child is the one that serves.
    _warn_of_other_reloader()
    if quiet:
        return

    files, folders = len(registry.paths()), len(watcher.watched_folders)
    what = announce or (
        f"watching {files} file{'s' if files != 1 else ''} "
        f"in {folders} folder{'s' if folders != 1 else ''}"
    )
    log = _logging.install()
    log.info("%s (%s)", what, watcher.backend)


def _warn_of_other_reloader() -> None:
    other = _other_reloader()
    if other is None:
        return
    from . import _logging

    name, switch = other
    _logging.install().warning(
        "%s runs too: it restarts the process on every save, and every reload "
        "happens twice; turn it off with %s",
        name,
        switch,
    )


def _other_reloader() -> tuple[str, str] | None:
    """The framework reloader this process runs under, if one does, and its off switch."""
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        return (
            "Flask's (Werkzeug's) reloader",
            "app.run(use_reloader=False) or flask run --no-reload",
        )
    if os.environ.get("RUN_MAIN") == "true" and "django" in sys.modules:
        return "Django's autoreloader", "manage.py runserver --noreload"
    # uvicorn sets no variable; its reload worker is spawned with the
    # parent's argv, as is the parent itself.
    if "uvicorn" in sys.modules and "--reload" in sys.argv:
        return "uvicorn's --reload", "uvicorn without --reload"
    return None


def stop(timeout: float = 1.0) -> None:
    """Stop the watcher and wait for its threads, ``timeout`` seconds at most.

    Functions keep the code they have; ``start()`` may be called again.
    """
    with lock:
        watcher, _state.watcher = _state.watcher, None
    if watcher is not None:
        watcher.stop(timeout)
    from .processes import _follow

    _follow.withdraw()
    for shipper in list(_state.shippers):  # the clusters that follow stop too
        try:
            shipper.close()
        except Exception:
            logger().exception("stopping %r failed", shipper)


def is_running() -> bool:
    """Whether the watcher's thread is running in this process."""
    watcher = _state.watcher
    return watcher is not None and watcher.alive()


def reload(target: object = None) -> list[ReloadEvent]:
    """Re-read files now, without waiting for the watcher.

    Args:
        target: a path, a hot function (or anything wrapping one), or None for
            every registered file.

    Returns:
        One event per entry that was swapped, failed, or recovered from an
        earlier failure; empty when nothing changed.

    Raises:
        KeyError: ``target`` is a function hotfunc does not know.
    """
    from . import _logging
    from .engine._notify import notify
    from .engine._reload import reload_source, retry_pending

    _logging.install()  # what a save says reaches the user without start() too
    _state.started = True
    sources: list[SourceFile]
    if target is None:
        sources = registry.sources()
    elif isinstance(target, (str, os.PathLike)):
        sources = registry.sources_at(os.path.abspath(os.fspath(target)))
    else:
        sources = [registry[target].source]
    events: list[ReloadEvent] = []
    for source in sources:
        events.extend(reload_source(source))
    events.extend(retry_pending())
    notify(events)
    return events


def on_reload(callback: ReloadCallback) -> ReloadCallback:
    """Call ``callback(event)`` after each swap or failed reload.

    Returns the callback, so this works as a decorator.  A callback that
    raises is logged and does not stop the others.
    """
    if not callable(callback):
        msg = f"on_reload() takes a callable, not {callback!r}"
        raise TypeError(msg)
    with lock:
        _state.callbacks.append(callback)
    return callback


class Status(str):
    """The registry table: a string that a prompt shows as the table itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def status() -> Status:
    """The registry as a table, also at a prompt: ``>>> hotfunc.status()``."""
    return Status(repr(registry))


_POLICIES = ("log", "raise")


def configure(
    *,
    level: int | str | None = None,
    on_error: str | Callable[[ReloadEvent], object] | None = None,
    color: bool | None = None,
    run_statements: bool | None = None,
    follow_children: bool | None = None,
    run_readers: bool | None = None,
) -> None:
    """Set how hotfunc reports.

    Args:
        level: level of the ``hotfunc`` logger (``logging.INFO`` shows one
            line per swapped function).  When the application has not set up
            logging, hotfunc prints its own lines to stderr.
        on_error: what a failed reload does besides keeping the last good code
            and setting ``entry.error``: ``"log"`` (the default) logs a
            WARNING; ``"raise"`` also makes the function's next calls raise
            :class:`hotfunc.exceptions.ReloadError` until a save fixes it; a
            callable is called with each failed :class:`ReloadEvent`.
        color: colour the output on or off; by default only on a terminal
            and never when ``NO_COLOR`` is set to a non-empty value.
        run_statements: whether a save runs its new and changed top-level
            statements (imports, constants, new functions and classes, class
            members).  Off, only the bodies of hot functions ever change, and
            nothing else in the file runs.  Defaults to the
            ``HOTFUNC_RUN_STATEMENTS`` variable, or on.
        follow_children: whether the Python processes this one starts from
            now on become hot the same way (multiprocessing, process pools,
            ``sys.executable`` subprocesses, forked workers) and apply the
            same saves.  Defaults to the ``HOTFUNC_FOLLOW_CHILDREN``
            variable, or on.
        run_readers: whether an unchanged top-level statement that reads a
            name a save changed runs again even though it calls code
            (``VERSION_INFO = tuple(int(p) for p in __version__.split("."))``);
            off, it is reported instead.  Opt in only where such calls have
            no side effects worth keeping from running twice.  Defaults to
            the ``HOTFUNC_RUN_READERS`` variable, or off.

    Raises:
        ValueError: ``on_error`` is neither a known policy nor callable.
    """
    if on_error is not None:
        if not callable(on_error) and on_error not in _POLICIES:
            msg = f"on_error must be 'log', 'raise' or a callable, not {on_error!r}"
            raise ValueError(msg)
        settings.on_error = on_error
    if run_statements is not None:
        settings.run_statements = bool(run_statements)
    if follow_children is not None:
        settings.follow_children = bool(follow_children)
    if run_readers is not None:
        settings.run_readers = bool(run_readers)
    if any(v is not None for v in (on_error, run_statements, follow_children, run_readers)):
        from .processes import _follow

        _follow.refresh()
    if level is not None or color is not None:
        from . import _logging

        _logging.install(level, color)
