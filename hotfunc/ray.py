"""Ray workers follow this process's saves: ``ray.init(runtime_env=hotfunc.ray.runtime_env(env))``.

Needs ``hotfunc[ray]``.  The runtime environment gives every worker process
of the job (tasks and actors alike) a start-up hook that follows a small
actor, the hub, which this process creates once Ray is up and to which it
sends the saved text of each module it applies, by module name.  Each worker
applies the texts with hotfunc's own engine: it keeps its state (module
globals, an actor's attributes), and its unchanged statements never run
again, whether it imports the code from this machine's files or from a copy
of its own.  A worker that starts later gets every module's current text
before its first task, and every task checks, as it starts, that its
worker has the last save this process applied (``processes/_rayjob.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pickle
import threading

import ray

from . import _state
from .core._settings import logger
from .processes import _rayjob, _ship

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
                    _rayjob.put_saved(str(count).encode())
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
                    _rayjob.kv_put(_rayjob.TEXTS, b"")
                    _rayjob.put_saved(b"")
                except Exception as exc:
                    logger().debug("cannot close the Ray hub: %s", exc)

    def _serve(self) -> None:
        """Serve one Ray session, until it shuts down or hotfunc stops."""
        with _calls.call():
            if not ray.is_initialized():
                return
            hub = _rayjob.Hub.options(  # type: ignore[attr-defined]
                name=_rayjob.hub_name(), namespace=_rayjob.NAMESPACE, get_if_exists=True, num_cpus=0
            ).remote()
            self._hub = hub
            reports, cursor = hub.reports.remote(0), 0
            _rayjob.put_saved(str(_state.saves).encode())
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
                    _rayjob.kv_put(_rayjob.TEXTS, pickle.dumps(shipped))
                    ray.get(hub.publish.remote(*shipped), timeout=10)
                ready, _ = ray.wait([reports], timeout=0)
                if ready:
                    for report in ray.get(reports):
                        _ship.heard(report["worker"], report["count"], report["failures"])
                        cursor += 1
                    reports = hub.reports.remote(cursor)


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
        _rayjob.progress.take_stored()  # nothing is imported yet: the texts wait for it
        _rayjob.check_each_task()
