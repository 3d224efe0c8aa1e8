"""All of hotfunc's global state, and the one lock that guards it.

Every other module reads and changes process-wide state through the names
defined here, and nowhere else: ``registry`` (what is hot), ``settings``
(switches from the environment and ``configure()``), ``callbacks``
(``on_reload`` subscribers), ``raising`` (functions given code that raises
their reload error), ``watcher`` (the running watcher, if any), what the
processes that follow this one need, and ``hooks``: callbacks the layers
above set at import, through which the layers below reach them, since a
lower layer never imports an upper one.  Inspection returns snapshots, never
the live internals.
"""

from __future__ import annotations

# ``import hotfunc`` runs at every boot of the application, so this module and
# everything it imports stay cheap: no typing, dataclasses, logging or
# threading module at run time (``_thread`` is built in).
import _thread
import weakref

from .core._registry import Registry
from .core._settings import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from .browser._hub import Hub
    from .core._entry import Entry, ReloadEvent
    from .core._sourcefile import SourceFile

    class Watcher(Protocol):
        """What the registry and the API need from the file watcher."""

        polling: bool
        interval: float

        def watch(self, path: str) -> None: ...

        def watch_folder(self, folder: str) -> None: ...

        def stop(self, timeout: float = ...) -> None: ...

        def abandon(self) -> None: ...

        def alive(self) -> bool: ...

    class Shipper(Protocol):
        """A cluster that follows this process's saves."""

        def announce(self, count: int, source: SourceFile | None, text: str | None) -> None:
            """Save ``count`` of ``source``, ``text``, is about to be applied here:
            nothing runs it yet.  Without a source: no save comes after all."""

        def __call__(self, source: SourceFile) -> None:
            """``source``'s save was applied here, with its count in ``saved_at``."""

        def close(self) -> None: ...

    ReloadCallback = Callable[["ReloadEvent"], object]

    from .core._redefinition import Adapter


#: What is hot: every function, by function object and by name.
registry = Registry()

# Guards the registry's tables.  Held only for short bookkeeping, never
# across file I/O or the application's code: stop(), imports that register
# functions and repr(registry) all need it.  Re-entrant, since registry
# methods call each other.
lock = registry.lock

settings = Settings()

watcher: Watcher | None = None

#: In a process that follows another's saves (a child of a hot process): the
#: pid of the process that speaks for the tree, the one that called start()
#: or ``run``.  None in that process itself and in every other.
leader: int | None = None

#: In a following process whose watcher has not started yet: what starts it,
#: once a hot file is registered.  A child that never imports a hot module
#: (a resource tracker, a ``pip`` run) never watches anything.
follow_start: Callable[[], None] | None = None

#: Where each following process of this tree keeps a file named by its pid,
#: so the leader can count them; None while no child follows.
followers_dir: str | None = None

#: Whether start() or reload() was ever called: the registry says when
#: functions are hot and nothing ever watched them.
started = False

callbacks: list[ReloadCallback] = []

#: Called with each file whose save this process applied: the clusters that
#: follow it (``hotfunc.dask.follow``, ``hotfunc.ray.runtime_env``).
shippers: list[Shipper] = []

#: Saves applied in this process, counted: a shipped text carries the count
#: at its save, so a worker applies each text once and in order.
saves = 0

#: In a worker that applies another process's saves: the text of each file
#: as that process saved it, by real path.  Read in place of the file on
#: disk, which is the worker's own copy and does not change.
shipped: dict[str, bytes] = registry.shipped

#: In such a worker: held while shipped texts are applied, so that two sets
#: that arrive together apply one after the other.  Held across the
#: application's code, as a file's own reload lock is.
receiving = _thread.RLock()

#: In such a worker: the count of the last save applied, by module name,
#: and what failed of it there.
applied: dict[str, tuple[int, list[str]]] = {}

#: In such a worker: the shipped text of each module it has not imported
#: yet, by module name; an import runs that text in place of its file.
awaited: dict[str, tuple[int, bytes]] = {}

#: In a process whose saves a cluster follows: each worker heard from, by
#: its label, with the count of the last save it applied and what failed.
workers: dict[str, tuple[int, list[str]]] = {}

#: In such a process: ``(worker, failure)`` pairs logged already.  A worker
#: that a set of texts missed (it joined meanwhile) and that is heard again
#: is not warned about twice.
warned: set[tuple[str, str]] = set()

#: Entries whose functions were given code that raises their reload error
#: (``on_error="raise"``), until a save fixes them.
raising: weakref.WeakSet[Entry] = weakref.WeakSet()


#: The registry adapters the program added (``hotfunc.adapter``), in order;
#: hotfunc's own for the frameworks it knows are asked after them.
adapters: list[Adapter] = []


#: Called on the watcher's thread after each batch of changed paths was
#: applied, with every changed path of the watched folders and the events:
#: the browser pages that follow the saves (``hotfunc.browser``).
batch_listeners: list[Callable[[set[str], list[ReloadEvent]], None]] = []

#: The browser pages' hub, once a middleware served a page (``hotfunc.browser``).
browser: Hub | None = None


class Hooks:
    """What the lower layers call up through; the API sets each when it is imported."""

    #: Start this process's watcher quietly, with ``(polling, interval)``:
    #: a following process starts its own when its first hot file appears.
    start_watcher: Callable[[bool, float], None] | None = None


hooks = Hooks()
