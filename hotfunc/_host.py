"""This process as the layers below see it: its watcher, its followers, its forks.

The registry (``core``) and the followers (``processes``) never import the
API; what they need from it they ask through the callbacks set here, when
``import hotfunc`` loads this module: the registry's ``host``, and
``_state.hooks``.  A fork runs the handlers at the end.
"""

from __future__ import annotations

import _thread
import atexit
import os
import time

from . import _api, _state
from ._state import registry, settings
from .core._registry import Host
from .core._settings import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .core._sourcefile import SourceFile

#: Seconds the exit of the process waits for a save under way to end.
EXIT_WAIT = 1.0

#: Seconds between looks, while no watcher was ever started, for a hot file
#: saved since it was registered: a save that nothing will apply.
REMIND_EVERY = 2.0


class _Host(Host):
    """What the registry asks of this process."""

    def __init__(self) -> None:
        self._reminding = False

    def file_added(self, source: SourceFile) -> None:
        # Called with the registry's lock held.
        if _state.watcher is not None and source.path is not None:
            _state.watcher.watch(source.path)
        elif _state.follow_start is not None:
            from .processes import _follow

            _follow.wake()
        if not self._reminding and not _state.started:
            self._reminding = True
            _thread.start_new_thread(_remind, ())

    def watcher_state(self) -> str:
        watcher = _state.watcher
        if watcher is not None and watcher.alive():
            return "running"
        if _state.started:
            return "stopped"
        return "never started (call hotfunc.start())"

    def followers(self) -> list[int]:
        from .processes._follow import live_followers

        return live_followers()

    def workers(self) -> list[tuple[str, int, list[str]]]:
        with _state.lock:
            return [
                (label, count, list(failed)) for label, (count, failed) in _state.workers.items()
            ]


def _remind() -> None:
    """Warn once if a hot file is saved while no watcher was ever started.

    Runs on a thread of its own until start() or reload() is called; a
    process that never saves a hot file never hears of it.
    """
    while not _state.started:
        time.sleep(REMIND_EVERY)
        if _state.started:
            return
        for source in registry.sources():
            try:
                saved = source.path is not None and os.stat(source.path).st_mtime > source.seen
            except OSError:
                continue
            if saved:
                from . import _logging

                _logging.install().warning(
                    "%s was saved, but no hotfunc watcher runs in this process, so the "
                    "save is not applied; call hotfunc.start() once at boot",
                    source.path,
                )
                return


def _start_quietly(polling: bool, interval: float) -> None:
    """Start a following process's watcher: it says only what fails."""
    from . import _logging

    _logging.install()  # at WARNING: a follower says only what failed
    _api._start(polling, interval, None, quiet=True)


registry.host = _Host()
_state.hooks.start_watcher = _start_quietly


def _hold_for_fork() -> None:
    # The registry's tables change under its lock in steps (a function leaves
    # the deferred list, then gets its entry): a fork from another thread
    # between two steps would leave the child a function in neither, which no
    # save reaches.  The lock is held briefly, so the fork waits little.
    _state.lock.acquire()


def _release_after_fork() -> None:
    _state.lock.release()


def _restart_in_child() -> None:
    # A forked child has copies of the watcher objects but none of their
    # threads; a lock another thread held at fork time would stay held forever.
    _state.lock._at_fork_reinit()  # type: ignore[attr-defined]  # CPython's RLock has it
    # A reload the fork interrupted left functions behind their file while
    # its content fingerprint says all is done: compare everything again.
    _state.registry.after_fork()
    for source in _state.registry.sources():
        source.digest = None
    old = _state.watcher
    if old is None:
        # A fork server's child: the server follows, but watches nothing.
        if _state.follow_start is not None and _state.registry.paths():
            from .processes import _follow

            _follow.wake()
        return
    from . import _logging
    from .processes import _follow

    _state.watcher = None
    if _state.leader is None:
        # The parent speaks for the tree; this child reports only failures.
        _state.leader = os.getppid()
        if not settings.follow_children:
            _state.followers_dir = None
    _logging.quiet()
    try:
        old.abandon()
        _api._start(old.polling, old.interval, None, quiet=True)
    except Exception:  # a child must come up even when its watcher cannot
        logger().exception("cannot start the watcher in forked child %d", os.getpid())
        return
    _follow.join()


os.register_at_fork(
    before=_hold_for_fork, after_in_parent=_release_after_fork, after_in_child=_restart_in_child
)


def _finish_at_exit() -> None:
    """Let a save under way end before the process does.

    The watcher's thread is a daemon, stopped dead wherever it is when the
    interpreter finalizes.  A program that exits right after a save (a child
    that answered with the new code, a script at its end) would lose the
    save's own report: the WARNING of a statement that failed there.
    """
    watcher = _state.watcher
    if watcher is not None:
        try:
            watcher.stop(EXIT_WAIT)
        except Exception:  # exiting is the process's business, not ours
            logger().debug("stopping the watcher at exit failed", exc_info=True)


atexit.register(_finish_at_exit)


if os.environ.get("HOTFUNC_BROWSER") == "1":
    # A worker of `run --browser` (a uvicorn worker): its server's pages follow too.
    from .browser import _servers

    _servers.install()
