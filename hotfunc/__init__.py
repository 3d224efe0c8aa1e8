"""Hot-reload Python functions in place while you develop.

Decorate functions with ``@hot`` and call ``hotfunc.start()`` once: saving a
file makes the next call run the new code, with no restart and no per-call cost.
"""

# Wires the layers at import: the registry and the followers reach this
# process's watcher through the callbacks it sets.
from . import _host  # noqa: F401
from ._api import configure, is_running, on_reload, reload, start, status, stop
from ._ipython import load_ipython_extension, unload_ipython_extension
from ._state import registry
from .adapters import Redefinition, adapter
from .core._entry import Entry, ReloadEvent, Version
from .core._registry import Registry
from .engine._decorator import hot
from .engine._history import diff, rollback

__all__ = [
    "Entry",
    "Redefinition",
    "Registry",
    "ReloadEvent",
    "Version",
    "adapter",
    "configure",
    "diff",
    "hot",
    "is_running",
    "load_ipython_extension",
    "on_reload",
    "registry",
    "reload",
    "rollback",
    "start",
    "status",
    "stop",
    "unload_ipython_extension",
]
__version__ = "0.1.0"
