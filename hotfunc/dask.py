"""Dask workers follow this process's saves: ``hotfunc.dask.follow(client)``.

Needs ``hotfunc[dask]``.  Each save this process applies is sent to every
worker of the client as the saved text of its module, by module name, and
applied there by hotfunc's own engine: the worker keeps its state, and its
unchanged statements never run again, whether it imports the code from this
machine's files or from a copy of its own.  A worker that joins later gets
every module's current text as it starts.
"""

from __future__ import annotations

import os
import threading
import zlib

from distributed import Client, Worker, WorkerPlugin

from .core._settings import logger
from .processes import _remote, _ship

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .core._sourcefile import SourceFile

__all__ = ["Following", "follow"]

#: How long a save waits for the workers to apply it before it applies here.
ANNOUNCE_WAIT = 5.0

#: The scheduler's metadata key that holds the current texts, for workers
#: that join later; and the plugin's name and event topic.
_KEY = "hotfunc-texts"
_NAME = "hotfunc"


def follow(client: Client) -> Following:
    """Apply every save this process applies on every worker of ``client``, from now on.

    Returns the :class:`Following`; ``hotfunc.stop()``, its ``stop()`` or the
    client's close end it.  A save that fails on a worker (a statement that
    raises only there) comes back as one WARNING naming the worker and
    ``file:line``, and shows in the registry.

    Raises:
        TypeError: ``client`` is not a ``distributed.Client``.
    """
    if not isinstance(client, Client):
        msg = f"hotfunc.dask.follow() takes a distributed.Client, not {client!r}"
        raise TypeError(msg)
    following = Following(client)
    following.start()
    return following


class Following:
    """The workers of one client following this process's saves."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._saved = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hotfunc-dask", daemon=True)
        self._labels: set[str] = set()

    def start(self) -> None:
        self._push()  # the workers start at this process's current code
        self.client.register_plugin(_Plugin(), name=_NAME)
        self.client.subscribe_topic(_NAME, self._heard)
        _ship.listen(self)
        self._thread.start()

    def announce(self, count: int, source: SourceFile | None, text: str | None) -> None:
        """Apply save ``count`` on every worker before it applies here: a task
        this process submits from then on runs it, and a worker that joins
        from then on starts with it.  A worker that takes longer than
        :data:`ANNOUNCE_WAIT` gets it a moment later, and says so."""
        name = _ship.module_name(source) if source is not None else None
        if name is None or source is None or text is None or not self._running():
            return
        texts, earlier = _ship.texts(), _ship.earlier()
        live = source.live_text()
        if live:
            earlier[name] = [*earlier.get(name, []), zlib.compress(live.encode("utf-8"), 1)]
        texts[name] = (count, zlib.compress(text.encode("utf-8"), 1))
        try:
            self._push(texts, earlier, ANNOUNCE_WAIT)
        except Exception as exc:
            logger().warning(
                "the Dask workers did not all take save %d within %.0f s; tasks started "
                "meanwhile may run the code before it: %s",
                count,
                ANNOUNCE_WAIT,
                exc,
            )

    def __call__(self, source: SourceFile) -> None:
        self._saved.set()  # saves that come faster than the workers apply are sent as one

    def close(self) -> None:
        """Stop sending saves; the workers keep the code they have."""
        self._stopping.set()
        self._saved.set()
        _ship.unlisten(self)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    stop = close

    def _running(self) -> bool:
        return not self._stopping.is_set() and self.client.status in ("running", "connecting")

    def _run(self) -> None:
        while self._running():
            if not self._saved.wait(0.5):
                continue
            self._saved.clear()
            if self._running():
                try:
                    self._push()
                except Exception as exc:  # a worker or the scheduler gone: a line, no more
                    logger().warning("cannot send the save to the Dask workers: %s", exc)
        _ship.unlisten(self)
        if self.client.status == "running":
            try:
                self.client.unsubscribe_topic(_NAME)
                self.client.unregister_worker_plugin(_NAME)
            except Exception as exc:
                logger().debug("cannot unregister from the Dask scheduler: %s", exc)
        for label in self._labels:
            _ship.gone(label)

    def _push(
        self,
        texts: _ship.Texts | None = None,
        earlier: _ship.Earlier | None = None,
        timeout: float | None = None,
    ) -> None:
        if texts is None or earlier is None:
            texts, earlier = _ship.texts(), _ship.earlier()
        count = max((c for c, _ in texts.values()), default=0)
        stored = {"texts": {name: list(value) for name, value in texts.items()}, "earlier": earlier}
        self.client.set_metadata(_KEY, stored)
        results: dict[str, Any] = self.client.sync(
            self.client._run,
            _apply_here,
            texts,
            earlier,
            on_error="return",
            callback_timeout=timeout,
        )
        labels = set()
        for address, result in results.items():
            if isinstance(result, BaseException):
                logger().warning("dask worker %s did not take the save: %s", address, result)
                continue
            label = f"dask worker {address} (pid {result['pid']})"
            labels.add(label)
            _ship.heard(label, count, result["failures"])
        for label in self._labels - labels:
            _ship.gone(label)
        self._labels = labels

    def _heard(self, event: tuple[float, dict[str, Any]]) -> None:
        _, report = event
        label = f"dask worker {report['worker']} (pid {report['pid']})"
        self._labels.add(label)
        _ship.heard(label, report["count"], list(report["failures"]))


async def _apply_here(texts: _ship.Texts, earlier: _ship.Earlier) -> dict[str, Any]:
    """On a worker: apply ``texts`` off the event loop, so heartbeats go on."""
    import asyncio

    loop = asyncio.get_running_loop()
    failures = await loop.run_in_executor(None, _remote.apply, texts, earlier)
    return {"pid": os.getpid(), "failures": failures}


class _Plugin(WorkerPlugin):
    """Brings a worker that joins later to the current texts."""

    async def setup(self, worker: Worker) -> None:
        stored = await worker.scheduler.get_metadata(keys=[_KEY], default=None)
        if not stored:
            return
        texts: _ship.Texts = {name: (int(c), bytes(t)) for name, (c, t) in stored["texts"].items()}
        earlier = {name: [bytes(t) for t in texts] for name, texts in stored["earlier"].items()}
        result = await _apply_here(texts, earlier)
        worker.log_event(
            _NAME,
            {
                "worker": worker.address,
                "pid": result["pid"],
                "count": max((c for c, _ in texts.values()), default=0),
                "failures": result["failures"],
            },
        )

    def teardown(self, worker: Worker) -> None:
        _remote.uninstall()
