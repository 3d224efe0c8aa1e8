"""The Ray side of following a driver: its hub, and each worker's catching up.

The hub is a small actor that holds the texts the driver last sent; each
worker waits on it for newer ones, and reports to it what failed.  The
driver also keeps in Ray's key-value store (and, on its own machine, in a
file of Ray's session folder) the texts and the count of its last save: a
worker takes them as it starts, and each task checks the count as it starts.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import os
import pickle
import threading

import ray

from ..core._settings import logger
from . import _remote, _ship

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The Ray namespace of the hubs.
NAMESPACE = "hotfunc"


@ray.remote(num_cpus=0)
class Hub:
    """Holds the current texts; the workers wait on it for newer ones, and report to it."""

    def __init__(self) -> None:
        self.version = 0
        self.saves = 0
        self.texts: _ship.Texts = {}
        self.earlier: _ship.Earlier = {}
        self.closed = False
        self.log: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    async def publish(self, saves: int, texts: _ship.Texts, earlier: _ship.Earlier) -> None:
        async with self.changed:
            self.version += 1
            self.saves, self.texts, self.earlier = saves, texts, earlier
            self.changed.notify_all()

    async def changes(self, known: int) -> tuple[int, int, _ship.Texts, _ship.Earlier] | None:
        """The texts once newer than version ``known``; None after a while without, or
        at close."""
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: self.closed or self.version > known), 10
                )
            except TimeoutError:
                return (known, self.saves, {}, {}) if not self.closed else None
            if self.closed:
                return None
            return self.version, self.saves, self.texts, self.earlier

    async def report(self, report: dict[str, Any]) -> None:
        async with self.changed:
            self.log.append(report)
            self.changed.notify_all()

    async def reports(self, cursor: int) -> list[dict[str, Any]]:
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: self.closed or len(self.log) > cursor), 1
                )
            return self.log[cursor:]

    async def close(self) -> None:
        async with self.changed:
            self.closed = True
            self.changed.notify_all()


def hub_name() -> str:
    """One hub per job, named by the job: the driver and its workers agree on it
    whichever process built the runtime environment (``ray job submit``)."""
    return f"hotfunc-{ray.get_runtime_context().get_job_id()}"


#: The keys in Ray's key-value store, after the hub's name: the texts the
#: driver last sent, and the count of the last save it applied.
TEXTS = "texts"
SAVED = "saved"


def kv_put(key: str, value: bytes) -> None:
    from ray.experimental import internal_kv

    name = f"{hub_name()}-{key}".encode()
    internal_kv._internal_kv_put(name, value, overwrite=True, namespace=NAMESPACE)


def kv_get(key: str) -> bytes | None:
    """What the driver stored, or None; a failure is logged, not raised: the
    worker runs all the same."""
    try:
        from ray.experimental import internal_kv

        name = f"{hub_name()}-{key}".encode()
        value: bytes | None = internal_kv._internal_kv_get(name, namespace=NAMESPACE)
    except Exception as exc:
        logger().warning("cannot read what the Ray driver stored for hotfunc: %s", exc)
        return None
    return value


@functools.cache
def _saved_file() -> str | None:
    """The file that holds the driver's last save count on its own machine: a
    task there reads it in place of Ray's store, for a fraction of the time."""
    node = ray._private.worker._global_node
    try:
        folder = node.get_session_dir_path() if node is not None else None
    except Exception:
        folder = None
    return None if folder is None else os.path.join(folder, f"{hub_name()}-saved")


def put_saved(value: bytes) -> None:
    kv_put(SAVED, value)
    path = _saved_file()
    if path is not None:
        try:
            with open(f"{path}.{os.getpid()}", "wb") as fh:
                fh.write(value)
            os.replace(f"{path}.{os.getpid()}", path)
        except OSError as exc:
            logger().debug("cannot write %s: %s", path, exc)


def get_saved() -> bytes | None:
    path = _saved_file()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            pass  # another machine than the driver's
    return kv_get(SAVED)


#: How long a task waits for the saves its driver applied before it was
#: submitted; then it runs, and says so.
CATCH_UP = 10.0


class _Progress:
    """In a worker: the count of the last save applied here, and the tasks waiting for it."""

    def __init__(self) -> None:
        self.count = 0
        self.following = True
        self.exiting = threading.Event()
        self.changed = threading.Condition()
        self.thread: threading.Thread | None = None
        self.label = ""

    def applied(self, saves: int) -> None:
        """The driver's saves up to ``saves`` are applied here."""
        with self.changed:
            self.count = max(self.count, saves)
            self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.following = False
            self.changed.notify_all()

    def take_stored(self) -> None:
        """Apply the texts the driver last stored."""
        stored = kv_get(TEXTS)
        if stored:
            saves, texts, earlier = pickle.loads(stored)  # written by this job's driver
            _remote.apply(texts, earlier)
            self.applied(saves)

    def follow(self) -> None:
        """Follow the hub from now on, on a thread of its own, once."""
        with self.changed:
            if self.thread is not None:
                return
            self.thread = threading.Thread(target=_follow_hub, name="hotfunc-ray", daemon=True)
        self.thread.start()
        # Registered after Ray's own handler, so it runs first.
        atexit.register(_exit, self.thread)

    def catch_up(self, task: str) -> None:
        """Wait until this worker applied the driver's last save; warn if it cannot."""
        self.follow()
        if not self.following:
            return
        stored = get_saved()
        wanted = int(stored) if stored else 0
        if self.count >= wanted:
            return
        self.take_stored()  # most often has it: the hub's copy comes a moment later
        with self.changed:
            caught = self.changed.wait_for(
                lambda: not self.following or self.count >= wanted, CATCH_UP
            )
            count = self.count
        if not caught:
            logger().warning(
                "on %s: %s runs code older than the driver's save %d: this worker has "
                "applied up to save %d after %.0f s",
                self.label or f"ray worker (pid {os.getpid()})",
                task,
                wanted,
                count,
                CATCH_UP,
            )


progress = _Progress()


def check_each_task() -> None:
    """Make every task and actor call of this worker catch up first.

    Ray runs what ``get_execution_info`` returns for each task; the
    function it holds is wrapped here, in the worker only: the application's
    functions stay as they are.  hotfunc's own hub is not held up.
    """
    try:
        manager = ray._private.worker.global_worker.function_actor_manager
        original = manager.get_execution_info
    except AttributeError as exc:
        logger().warning(
            "this Ray version runs tasks unchecked: one that starts right after a save "
            "may run the code before it (%s)",
            exc,
        )
        return

    def get_execution_info(job_id: Any, descriptor: Any) -> Any:
        info = original(job_id, descriptor)
        if getattr(descriptor, "module_name", None) == __name__:
            return info
        return info._replace(function=_checked(info.function, info.function_name))

    manager.get_execution_info = get_execution_info  # type: ignore[method-assign,assignment]


def _checked(function: Any, name: str) -> Any:
    def checked(*args: Any, **kwargs: Any) -> Any:
        progress.catch_up(name)
        return function(*args, **kwargs)

    # Ray reads what the executor of an actor method carries (its name, and
    # the method, to tell an async one).
    checked.__dict__.update(getattr(function, "__dict__", {}))
    return checked


def _follow_hub() -> None:
    name = ""
    label = progress.label = f"ray worker {ray.util.get_node_ip_address()} (pid {os.getpid()})"
    known, hub = 0, None
    changed: Any
    while not progress.exiting.is_set():
        try:
            if hub is None:
                name = name or hub_name()
                hub = ray.get_actor(name, namespace=NAMESPACE)
            changed = _answer(hub.changes.remote(known))
        except ValueError:  # not created yet
            progress.exiting.wait(0.1)
            continue
        except Exception:
            if not ray.is_initialized():
                return
            hub = None
            progress.exiting.wait(0.5)
            continue
        if changed is _EXITING:
            return
        if changed is None:  # closed: hotfunc stopped in the driver
            _remote.uninstall()
            progress.stop()
            return
        version, saves, texts, earlier = changed
        if version == known:
            continue
        known = version
        failures = _remote.apply(texts, earlier)
        progress.applied(saves)
        count = max((c for c, _ in texts.values()), default=0)
        hub.report.remote({"worker": label, "count": count, "failures": failures})


_EXITING: Any = object()


def _answer(ref: Any) -> Any:
    """What ``ref`` holds, waited for in short waits: the worker may exit meanwhile.

    Through a future, not ``ray.get``: a blocking get from a thread of its
    own races with the task the worker runs, and may crash the process.
    """
    future = ref.future()
    while not progress.exiting.is_set():
        try:
            return future.result(timeout=0.25)
        except concurrent.futures.TimeoutError:
            continue
    future.cancel()
    return _EXITING


def _exit(thread: threading.Thread) -> None:
    """At the worker's exit, before Ray's own handler: leave Ray's calls first."""
    progress.exiting.set()
    progress.stop()
    thread.join(1)
