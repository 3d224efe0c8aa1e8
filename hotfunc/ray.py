"""Ray workers follow this process's saves: ``ray.init(runtime_env=hotfunc.ray.runtime_env(env))``.

Needs ``hotfunc[ray]``.  The runtime environment gives every worker process
of the job (tasks and actors alike) a start-up hook that follows a small
actor, the hub, which this process creates once Ray is up and to which it
sends the saved text of each module it applies, by module name.  Each worker
applies the texts with hotfunc's own engine: it keeps its state (module
globals, an actor's attributes), and its unchanged statements never run
again, whether it imports the code from this machine's files or from a copy
of its own.  A worker that starts later gets every module's current text.
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

from . import _state
from .core._settings import logger
from .processes import _remote, _ship

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .core._sourcefile import SourceFile

__all__ = ["runtime_env", "setup_worker"]

#: The variables the workers get: that they follow their job's hub, and a
#: setup hook of the caller's that ours runs first.
HUB = "HOTFUNC_RAY_HUB"
CHAINED = "HOTFUNC_RAY_SETUP_HOOK"
_HOOK = "hotfunc.ray.setup_worker"
_NAMESPACE = "hotfunc"


def runtime_env(env: dict[str, Any] | None = None) -> dict[str, Any]:
    """``env`` (a Ray runtime environment, or None) with what hotfunc needs added.

    The result is plain data, so the same dict serves ``ray.init``, ``ray
    job submit --runtime-env-json`` and a Ray Serve config.  From the moment
    Ray is up in this process, every save it applies reaches every worker of
    the job.  ``hotfunc.stop()`` or ``ray.shutdown()`` ends it.

    Raises:
        TypeError: ``env`` is not a dict, or its ``worker_process_setup_hook``
            is a callable: to run it besides hotfunc's, give its import path.
    """
    if env is not None and not isinstance(env, dict):
        msg = f"runtime_env() takes a Ray runtime environment dict or None, not {env!r}"
        raise TypeError(msg)
    result = dict(env or {})
    env_vars = dict(result.get("env_vars") or {})
    hook = result.get("worker_process_setup_hook")
    if hook is not None and hook != _HOOK:
        if not isinstance(hook, str):
            msg = (
                f"worker_process_setup_hook must be an import path such as 'app.setup' to "
                f"run beside hotfunc's, not {hook!r}"
            )
            raise TypeError(msg)
        env_vars[CHAINED] = hook
    result["worker_process_setup_hook"] = _HOOK
    _driver()
    env_vars[HUB] = "1"
    result["env_vars"] = env_vars
    return result


class _Gate:
    """hotfunc's Ray calls in the driver, any number at once, and ``ray.shutdown()``
    alone: Ray ends the whole process when a thread calls into it while it
    shuts down."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._inside = 0
        self._closing = False

    @contextlib.contextmanager
    def call(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._closing)
            self._inside += 1
        try:
            yield
        finally:
            with self._changed:
                self._inside -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._closing)
            self._closing = True
            self._changed.wait_for(lambda: self._inside == 0)
        try:
            yield
        finally:
            with self._changed:
                self._closing = False
                self._changed.notify_all()


_calls = _Gate()


def _driver() -> _Driver:
    with _state.lock:
        for shipper in _state.shippers:
            if isinstance(shipper, _Driver):
                return shipper
        driver = _Driver()
        _ship.listen(driver)
    _guard_shutdown()
    # Runs before Ray's own exit handler, registered when ray was imported.
    atexit.register(driver.close)
    driver.start()
    return driver


def _guard_shutdown() -> None:
    """Make ``ray.shutdown()`` wait for the driver's Ray call under way, if any."""
    original = ray.shutdown
    if getattr(original, "_hotfunc_guarded", False):
        return

    @functools.wraps(original)
    def shutdown(*args: Any, **kwargs: Any) -> Any:
        with _calls.alone():
            return original(*args, **kwargs)

    shutdown._hotfunc_guarded = True  # type: ignore[attr-defined]
    ray.shutdown = shutdown


class _Driver:
    """Sends this process's saves to the hub, and logs what the workers report."""

    def __init__(self) -> None:
        self._saved = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hotfunc-ray", daemon=True)
        self._hub: Any = None

    def start(self) -> None:
        self._thread.start()

    def __call__(self, source: SourceFile) -> None:
        self._saved.set()  # saves that come faster than the workers apply are sent as one

    def announce(self, count: int, source: SourceFile | None, text: str | None) -> None:
        """Tell the workers of save ``count`` before it applies here: a task the
        driver submits from then on checks for it as it starts."""
        with _calls.call():
            try:
                if ray.is_initialized():
                    _put_saved(str(count).encode())
            except Exception as exc:
                logger().warning("cannot tell the Ray workers of save %d: %s", count, exc)

    def close(self) -> None:
        self._stopping.set()
        _ship.unlisten(self)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not ray.is_initialized():
                self._stopping.wait(0.05)
                continue
            try:
                self._serve()
            except Exception as exc:
                if ray.is_initialized() and not self._stopping.is_set():
                    logger().warning("cannot send saves to the Ray workers: %s", exc)
                    self._stopping.wait(1)
        hub, self._hub = self._hub, None
        with _calls.call():
            if hub is not None and ray.is_initialized():
                try:
                    ray.get(hub.close.remote(), timeout=5)
                    ray.kill(hub)
                    # The workers follow no more, and their tasks wait for nothing.
                    _kv_put(_TEXTS, b"")
                    _put_saved(b"")
                except Exception as exc:
                    logger().debug("cannot close the Ray hub: %s", exc)

    def _serve(self) -> None:
        """Serve one Ray session, until it shuts down or hotfunc stops."""
        with _calls.call():
            if not ray.is_initialized():
                return
            hub = _Hub.options(  # type: ignore[attr-defined]
                name=_hub_name(), namespace=_NAMESPACE, get_if_exists=True, num_cpus=0
            ).remote()
            self._hub = hub
            reports, cursor = hub.reports.remote(0), 0
            _put_saved(str(_state.saves).encode())
        self._saved.set()  # the current texts, for the workers that start
        while not self._stopping.is_set():
            saved = self._saved.wait(0.02)
            with _calls.call():
                # Checked under the lock: ray.shutdown() may have run meanwhile.
                if not ray.is_initialized():
                    self._hub = None
                    return
                if saved:
                    self._saved.clear()
                    shipped = (_state.saves, _ship.texts(), _ship.earlier())
                    # Read by the workers as they start, before their first task.
                    _kv_put(_TEXTS, pickle.dumps(shipped))
                    ray.get(hub.publish.remote(*shipped), timeout=10)
                ready, _ = ray.wait([reports], timeout=0)
                if ready:
                    for report in ray.get(reports):
                        _ship.heard(report["worker"], report["count"], report["failures"])
                        cursor += 1
                    reports = hub.reports.remote(cursor)


@ray.remote(num_cpus=0)
class _Hub:
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


def _hub_name() -> str:
    """One hub per job, named by the job: the driver and its workers agree on it
    whichever process built the runtime environment (``ray job submit``)."""
    return f"hotfunc-{ray.get_runtime_context().get_job_id()}"


def setup_worker() -> None:
    """The workers' start-up hook: take the driver's saves, and check each task.

    The texts the driver last sent are taken first, before the worker runs
    its first task: a worker that starts right after a save runs it.  Each
    task then waits, as it starts, until this worker has applied every save
    the driver had applied.  From the first task on, a thread of its own
    follows the job's hub: not sooner, since Ray takes no calls from another
    thread of a worker that is still starting.
    """
    chained = os.environ.get(CHAINED)
    if chained:
        import importlib

        module, _, name = chained.rpartition(".")
        getattr(importlib.import_module(module), name)()
    if os.environ.get(HUB):
        _progress.take_stored()  # nothing is imported yet: the texts wait for it
        _check_each_task()


#: The keys in Ray's key-value store, after the hub's name: the texts the
#: driver last sent, and the count of the last save it applied.
_TEXTS = "texts"
_SAVED = "saved"


def _kv_put(key: str, value: bytes) -> None:
    from ray.experimental import internal_kv

    name = f"{_hub_name()}-{key}".encode()
    internal_kv._internal_kv_put(name, value, overwrite=True, namespace=_NAMESPACE)


def _kv_get(key: str) -> bytes | None:
    """What the driver stored, or None; a failure is logged, not raised: the
    worker runs all the same."""
    try:
        from ray.experimental import internal_kv

        name = f"{_hub_name()}-{key}".encode()
        value: bytes | None = internal_kv._internal_kv_get(name, namespace=_NAMESPACE)
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
    return None if folder is None else os.path.join(folder, f"{_hub_name()}-saved")


def _put_saved(value: bytes) -> None:
    _kv_put(_SAVED, value)
    path = _saved_file()
    if path is not None:
        try:
            with open(f"{path}.{os.getpid()}", "wb") as fh:
                fh.write(value)
            os.replace(f"{path}.{os.getpid()}", path)
        except OSError as exc:
            logger().debug("cannot write %s: %s", path, exc)


def _get_saved() -> bytes | None:
    path = _saved_file()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            pass  # another machine than the driver's
    return _kv_get(_SAVED)


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
        stored = _kv_get(_TEXTS)
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
        stored = _get_saved()
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


_progress = _Progress()


def _check_each_task() -> None:
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
        _progress.catch_up(name)
        return function(*args, **kwargs)

    # Ray reads what the executor of an actor method carries (its name, and
    # the method, to tell an async one).
    checked.__dict__.update(getattr(function, "__dict__", {}))
    return checked


def _follow_hub() -> None:
    name = ""
    label = _progress.label = f"ray worker {ray.util.get_node_ip_address()} (pid {os.getpid()})"
    known, hub = 0, None
    changed: Any
    while not _progress.exiting.is_set():
        try:
            if hub is None:
                name = name or _hub_name()
                hub = ray.get_actor(name, namespace=_NAMESPACE)
            changed = _answer(hub.changes.remote(known))
        except ValueError:  # not created yet
            _progress.exiting.wait(0.1)
            continue
        except Exception:
            if not ray.is_initialized():
                return
            hub = None
            _progress.exiting.wait(0.5)
            continue
        if changed is _EXITING:
            return
        if changed is None:  # closed: hotfunc stopped in the driver
            _remote.uninstall()
            _progress.stop()
            return
        version, saves, texts, earlier = changed
        if version == known:
            continue
        known = version
        failures = _remote.apply(texts, earlier)
        _progress.applied(saves)
        count = max((c for c, _ in texts.values()), default=0)
        hub.report.remote({"worker": label, "count": count, "failures": failures})


_EXITING: Any = object()


def _answer(ref: Any) -> Any:
    """What ``ref`` holds, waited for in short waits: the worker may exit meanwhile.

    Through a future, not ``ray.get``: a blocking get from a thread of its
    own races with the task the worker runs, and may crash the process.
    """
    future = ref.future()
    while not _progress.exiting.is_set():
        try:
            return future.result(timeout=0.25)
        except concurrent.futures.TimeoutError:
            continue
    future.cancel()
    return _EXITING


def _exit(thread: threading.Thread) -> None:
    """At the worker's exit, before Ray's own handler: leave Ray's calls first."""
    _progress.exiting.set()
    _progress.stop()
    thread.join(1)
