"""What a process whose saves a cluster follows sends its workers: texts by module name.

A worker may run on another machine, from its own copy of the code, under
another patch release of Python: it gets the *text* each module was last
saved with, never code objects, and finds the module by its name, never by
its path.  Every text carries the count of the save that made it, so a
worker applies each once and in order; one that joins later gets every
module's current text and catches up in one step.
"""

from __future__ import annotations

import zlib

from .. import _state
from .._state import registry
from ..core._settings import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._state import Shipper
    from ..core._sourcefile import SourceFile

#: ``{module name: (count of its last save, zlib-compressed text)}``.
Texts = dict[str, tuple[int, bytes]]

#: ``{module name: [zlib-compressed text it had before, ...]}``, the latest
#: last: a worker that imported the module from a file saved since finds there
#: the text it runs.
Earlier = dict[str, list[bytes]]


def module_name(source: SourceFile) -> str | None:
    """The name a worker imports ``source`` by; None for a script run as ``__main__``."""
    namespace = source.namespace
    name = namespace.get("__name__") if namespace is not None else None
    if not isinstance(name, str) or name in ("__main__", "__mp_main__"):
        return None
    return name


def texts() -> Texts:
    """Every hot module's current text: what a worker needs to run what this process runs."""
    found: Texts = {}
    for source in registry.sources():
        name = module_name(source)
        if name is None or source.path is None:
            continue
        packed = source.packed
        if packed is None or packed[0] != source.saved_at:
            # A save compresses its own file's text and no other.
            text = source.live_text()
            if not text:
                continue
            packed = source.packed = (source.saved_at, zlib.compress(text.encode("utf-8"), 1))
        found[name] = packed
    return found


def earlier() -> Earlier:
    """The earlier texts of every hot module saved in this process."""
    found: Earlier = {}
    for source in registry.sources():
        name = module_name(source)
        if name is not None and source.earlier:
            found[name] = list(source.earlier)
    return found


def listen(shipper: Shipper) -> None:
    """Call ``shipper(source)`` after each save this process applies, until
    ``hotfunc.stop()`` closes it."""
    with _state.lock:
        if shipper not in _state.shippers:
            _state.shippers.append(shipper)


def unlisten(shipper: Shipper) -> None:
    with _state.lock:
        if shipper in _state.shippers:
            _state.shippers.remove(shipper)


def heard(worker: str, count: int, failures: list[str]) -> None:
    """A worker applied the saves up to ``count``: log what failed there, once.

    Each failure is one WARNING naming the worker and ``file:line``; the
    registry shows it until a later save applies there cleanly.
    """
    with _state.lock:
        _, before = _state.workers.get(worker, (0, []))
        _state.workers[worker] = (count, list(failures))
        new = [f for f in failures if f not in before and (worker, f) not in _state.warned]
        _state.warned.update((worker, f) for f in new)
        # Fixed there: should it fail again, that is news.
        _state.warned.difference_update((worker, f) for f in before if f not in failures)
    for failure in new:
        logger().warning("on %s: %s", worker, failure)


def gone(worker: str) -> None:
    """A worker left the cluster: it no longer follows."""
    with _state.lock:
        _state.workers.pop(worker, None)
