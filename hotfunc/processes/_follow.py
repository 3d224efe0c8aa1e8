"""Child processes follow the process that watches: same mode, same settings, one voice.

The process that calls ``start()`` or ``run`` leads.  It puts what a child
needs to know in ``HOTFUNC_FOLLOW``.  The start-up hook ``hotfunc-follow.pth``,
which every interpreter of the environment reads, imports this module only
when that variable is set: any other Python process pays one look-up in
``os.environ``.

A following process watches the files itself and applies each save to its
own live code, as the leader does; nothing crosses between the processes but
the variable.  Its watcher starts when its first hot file is registered, so a
child that runs none of the code (a resource tracker, a ``pip`` run) watches
nothing.  It prints only failures, each with its pid, and keeps an empty file
named by its pid in the leader's folder, so the leader's registry can count
the processes that follow it.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import sys

from .. import _state
from .._state import settings
from ..core._settings import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

ENV = "HOTFUNC_FOLLOW"

# The -c programs of multiprocessing's spawned children and of its fork server:
# both run the parent's main script again, as ``__mp_main__``.
_MULTIPROCESSING = ("from multiprocessing.spawn import", "from multiprocessing.forkserver import")


def lead(watch: Sequence[str] | None, polling: bool, interval: float) -> None:
    """Let the Python processes this one starts from now on follow it.

    ``watch`` holds ``run``'s patterns, or None after ``start()``.  A process
    that follows another already passes the leader's variable on.
    """
    if _state.leader is not None or not settings.follow_children:
        return
    if _state.followers_dir is None:
        _state.followers_dir = _make_folder()
    config: dict[str, Any] = {
        "leader": os.getpid(),
        "dir": _state.followers_dir,
        "watch": None if watch is None else list(watch),
        "polling": polling,
        "interval": interval,
    }
    _publish(config)


def _make_folder() -> str | None:
    """A new private folder for the followers' pid files, removed at exit.

    Made with ``os`` alone: tempfile and shutil would be imported into
    every application at boot.
    """
    import atexit

    base = os.environ.get("TMPDIR") or "/tmp"
    for attempt in range(100):
        folder = os.path.join(base, f"hotfunc-{os.getpid()}-{attempt}")
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        except OSError:
            return None  # no count in the table; the children follow all the same
        atexit.register(_remove_folder, folder, os.getpid())
        return folder
    return None


def _remove_folder(folder: str, owner: int) -> None:
    if os.getpid() != owner:  # a forked child's copy of the exit handler
        return
    try:
        for name in os.listdir(folder):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    except OSError:
        pass


def refresh() -> None:
    """After ``configure()``: children started from now on get the new settings."""
    if _state.leader is not None:
        return
    current = _read()
    if not settings.follow_children:
        os.environ.pop(ENV, None)
    elif current is not None:
        _publish(current)


def withdraw() -> None:
    """After ``stop()`` in the leader: children started from now on do not follow."""
    if _state.leader is None:
        os.environ.pop(ENV, None)


def _publish(config: dict[str, Any]) -> None:
    import json

    config["run_statements"] = settings.run_statements
    config["run_readers"] = settings.run_readers
    config["on_error"] = settings.on_error if isinstance(settings.on_error, str) else "log"
    os.environ[ENV] = json.dumps(config)


def _read() -> dict[str, Any] | None:
    raw = os.environ.get(ENV)
    if not raw:
        return None
    import json

    config = json.loads(raw)
    if not isinstance(config, dict) or not isinstance(config.get("leader"), int):
        msg = f"{ENV}={raw!r} is not what a hot parent process sets; not following it"
        raise ValueError(msg)
    return config


def boot() -> None:
    """The start-up hook: make this interpreter follow its hot ancestor.

    Never raises: a process must start whatever the variable holds.
    """
    try:
        _boot()
    except Exception as exc:
        sys.stderr.write(
            f"hotfunc[{os.getpid()}]: WARNING: not following the parent process's saves: "
            f"{type(exc).__name__}: {exc}\n"
        )


def _boot() -> None:
    config = _read()
    if config is None or settings.disabled or _state.leader is not None:
        return
    _state.leader = config["leader"]
    folder = config.get("dir")
    _state.followers_dir = folder if isinstance(folder, str) else None
    settings.run_statements = bool(config.get("run_statements", True))
    settings.run_readers = bool(config.get("run_readers", False))
    if config.get("on_error") in ("log", "raise"):
        settings.on_error = config["on_error"]
    polling = bool(config.get("polling", False))
    interval = float(config.get("interval", 0.5))
    watch = config.get("watch")
    if isinstance(watch, list):
        from . import _importhook

        patterns = _importhook.Patterns(str(p) for p in watch)
        _importhook.install(patterns)
        program = sys.orig_argv[sys.orig_argv.index("-c") + 1] if "-c" in sys.orig_argv else ""
        if program.startswith(_MULTIPROCESSING):
            _hot_main_of_children(patterns)

    def start() -> None:
        _start_following(polling, interval)

    _state.follow_start = start


def _start_following(polling: bool, interval: float) -> None:
    start = _state.hooks.start_watcher  # set by the API, which ``import hotfunc`` loads
    if start is None:
        return
    try:
        start(polling, interval)
    except Exception:
        logger().exception("cannot start the watcher in following process %d", os.getpid())
        return
    join()


def wake() -> None:
    """Start the watcher of a following process, on a thread of its own: the
    caller holds the lock, which starting takes."""
    start, _state.follow_start = _state.follow_start, None
    if start is not None:
        _thread.start_new_thread(start, ())


def join() -> None:
    """Be counted among the processes that follow the leader."""
    folder = _state.followers_dir
    if folder is None or _state.leader is None:
        return
    marker = os.path.join(folder, str(os.getpid()))
    try:
        with open(marker, "w"):
            pass
    except OSError:
        return  # the leader is gone, or its folder: nobody counts
    import atexit

    atexit.register(_leave, marker)


def _leave(marker: str) -> None:
    if os.path.basename(marker) == str(os.getpid()):  # not a forked copy's atexit
        with contextlib.suppress(OSError):
            os.unlink(marker)


def live_followers() -> list[int]:
    """The pids of the live processes that follow this one, in the leader."""
    folder = _state.followers_dir
    if folder is None or _state.leader is not None:
        return []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    live = []
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        if _alive(pid):
            live.append(pid)
        else:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
    return sorted(live)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    try:  # exited, and not yet reaped by its parent
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:
        return True


def _hot_main_of_children(patterns: Any) -> None:
    """Make hot the main script that multiprocessing runs again in this child.

    ``run`` made the parent's script hot as it compiled it; here
    multiprocessing runs it with ``runpy``, as ``__mp_main__``.
    """
    from multiprocessing import spawn

    original = spawn._fixup_main_from_path  # type: ignore[attr-defined]

    def fixup(main_path: str) -> None:
        original(main_path)
        main = sys.modules.get("__mp_main__")
        if main is None or not patterns(main_path):
            return
        from types import FunctionType

        from ..engine._decorator import hot_namespace

        # runpy ran the script in a dict of its own and gave the module a
        # copy: the functions read the first, so statements must run there.
        namespace = vars(main)
        for value in list(namespace.values()):
            if type(value) is FunctionType and value.__module__ == "__mp_main__":
                namespace = value.__globals__
                break
        hot_namespace(main_path, namespace)

    spawn._fixup_main_from_path = fixup  # type: ignore[attr-defined]
