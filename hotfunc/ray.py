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
import contextlib
import functools
import os
import threading

import ray

from . import _state
from .core._settings import logger
from .processes import _remote, _ship

TYPE_CHECKING = False
if TYPE_CHECKING:
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


#: Held by the driver's thread across each of its Ray calls, and by
#: ray.shutdown(): Ray ends the whole process when a thread calls into it
#: while it shuts down.
_calls = threading.Lock()


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
        with _calls:
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
        with _calls:
            if hub is not None and ray.is_initialized():
                try:
                    ray.get(hub.close.remote(), timeout=5)
                    ray.kill(hub)
                except Exception as exc:
                    logger().debug("cannot close the Ray hub: %s", exc)

    def _serve(self) -> None:
        """Serve one Ray session, until it shuts down or hotfunc stops."""
        with _calls:
            if not ray.is_initialized():
                return
            hub = _Hub.options(  # type: ignore[attr-defined]
                name=_hub_name(), namespace=_NAMESPACE, get_if_exists=True, num_cpus=0
            ).remote()
            self._hub = hub
            reports, cursor = hub.reports.remote(0), 0
        self._saved.set()  # the current texts, for the workers that start
        while not self._stopping.is_set():
            saved = self._saved.wait(0.02)
            with _calls:
                # Checked under the lock: ray.shutdown() may have run meanwhile.
                if not ray.is_initialized():
                    self._hub = None
                    return
                if saved:
                    self._saved.clear()
                    ray.get(hub.publish.remote(_ship.texts()), timeout=10)
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
        self.texts: _ship.Texts = {}
        self.closed = False
        self.log: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    async def publish(self, texts: _ship.Texts) -> None:
        async with self.changed:
            self.version += 1
            self.texts = texts
            self.changed.notify_all()

    async def changes(self, known: int) -> tuple[int, _ship.Texts] | None:
        """The texts once newer than version ``known``; None after a while without, or
        at close."""
        async with self.changed:
            try:
                await asyncio.wait_for(
                    self.changed.wait_for(lambda: self.closed or self.version > known), 10
                )
            except TimeoutError:
                return (known, {}) if not self.closed else None
            return None if self.closed else (self.version, self.texts)

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
    """The workers' start-up hook: follow the job's hub, on a thread of its own."""
    chained = os.environ.get(CHAINED)
    if chained:
        import importlib

        module, _, name = chained.rpartition(".")
        getattr(importlib.import_module(module), name)()
    if os.environ.get(HUB):
        threading.Thread(target=_follow_hub, name="hotfunc-ray", daemon=True).start()


def _follow_hub() -> None:
    name = ""
    label = f"ray worker {ray.util.get_node_ip_address()} (pid {os.getpid()})"
    known, hub = 0, None
    changed: Any
    while True:
        try:
            if hub is None:
                name = name or _hub_name()
                hub = ray.get_actor(name, namespace=_NAMESPACE)
            changed = ray.get(hub.changes.remote(known))
        except ValueError:  # not created yet
            threading.Event().wait(0.1)
            continue
        except Exception:
            if not ray.is_initialized():
                return
            hub = None
            threading.Event().wait(0.5)
            continue
        if changed is None:  # closed: hotfunc stopped in the driver
            _remote.uninstall()
            return
        version, texts = changed
        if version == known:
            continue
        known = version
        failures = _remote.apply(texts)
        count = max((c for c, _ in texts.values()), default=0)
        hub.report.remote({"worker": label, "count": count, "failures": failures})
