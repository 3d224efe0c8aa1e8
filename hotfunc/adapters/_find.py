"""Finding a framework's live registries without importing the framework."""

from __future__ import annotations

import gc
import sys
from types import ModuleType

from ..core._wrappers import is_instance, probe


def loaded(name: str, attribute: str) -> type | None:
    """``name.attribute`` when the program imported module ``name`` and it is a class."""
    module = sys.modules.get(name)
    if module is None:
        return None
    value = probe(module, attribute)
    return value if isinstance(value, type) else None


def in_modules(kind: type | tuple[type, ...]) -> list[object]:
    """The instances of ``kind`` (a class, or a tuple of them) that a loaded module
    holds at its top level.

    Apps and routers are module globals (``app = Flask(__name__)``, an ASGI
    server's ``module:app``), found without walking the heap.
    """
    found: dict[int, object] = {}
    for module in list(sys.modules.values()):
        if not isinstance(module, ModuleType):
            continue
        try:
            values = list(vars(module).values())
        except Exception:  # a module object whose __dict__ cannot be read
            continue
        for value in values:
            if is_instance(value, kind):
                found[id(value)] = value
    return list(found.values())


def holders(obj: object, kind: type) -> list[object]:
    """The instances of ``kind`` that hold ``obj`` in an attribute, or in a dict or
    list of theirs (``app.view_functions[endpoint]``).

    Walks the heap up from ``obj`` through dicts and lists, three steps at
    most: what refers to it, the instance ``__dict__`` that holds such a
    dict, and the instance.  Paid only when a definition a framework
    registered runs again, which is rare, and worth finding an app that a
    factory made and no module holds.
    """
    found: dict[int, object] = {}
    frontier: list[object] = [obj]
    seen: set[int] = {id(obj)}
    for _ in range(3):
        step: list[object] = []
        for ref in gc.get_referrers(*frontier):
            if is_instance(ref, kind):
                found[id(ref)] = ref
            elif type(ref) in (dict, list) and id(ref) not in seen:
                seen.add(id(ref))
                step.append(ref)
        if not step:
            break
        frontier = step
    return list(found.values())
