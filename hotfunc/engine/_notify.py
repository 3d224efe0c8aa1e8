"""Hand reload events to the ``on_reload`` callbacks, never raising."""

from __future__ import annotations

import logging
import os
import queue
import threading

from .._state import callbacks, settings
from ..core._entry import ReloadEvent

logger = logging.getLogger("hotfunc")


def notify(events: list[ReloadEvent]) -> None:
    """Call every ``on_reload`` callback with each event; never raise."""
    handlers = list(callbacks)
    policy = settings.on_error
    if callable(policy):
        handlers.append(lambda event: None if event.ok else policy(event))
    for callback in handlers:
        for event in events:
            try:
                callback(event)
            except Exception:
                logger.exception("on_reload callback %r raised", callback)


def publish(events: list[ReloadEvent]) -> None:
    """Hand events to the ``on_reload`` callbacks, on a thread of their own."""
    if events and (callbacks or callable(settings.on_error)):
        _notifier().put(events)


_queue: queue.SimpleQueue[list[ReloadEvent]] | None = None


def _notifier() -> queue.SimpleQueue[list[ReloadEvent]]:
    """The queue a daemon thread empties into the ``on_reload`` callbacks."""
    global _queue
    if _queue is None:
        _queue = queue.SimpleQueue()
        threading.Thread(
            target=_notify_forever, args=(_queue,), name="hotfunc-callbacks", daemon=True
        ).start()
    return _queue


def _notify_forever(events: queue.SimpleQueue[list[ReloadEvent]]) -> None:
    while True:
        notify(events.get())


def _forget_notifier() -> None:
    """In a forked child the thread is gone; the next event starts another."""
    global _queue
    _queue = None


os.register_at_fork(after_in_child=_forget_notifier)
