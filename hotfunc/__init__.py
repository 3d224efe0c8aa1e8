"""Hot-reload Python functions in place while you develop.

Decorate functions with ``@hot`` and call ``hotfunc.start()`` once: saving a
file makes the next call run the new code, with no restart and no per-call cost.
"""

from ._api import is_running, on_reload, reload, start, status, stop
from ._decorator import hot
from ._registry import Entry, Registry, ReloadEvent, registry

__all__ = [
    "Entry",
    "Registry",
    "ReloadEvent",
    "hot",
    "is_running",
    "on_reload",
    "registry",
    "reload",
    "start",
    "status",
    "stop",
]
__version__ = "0.1.0"
