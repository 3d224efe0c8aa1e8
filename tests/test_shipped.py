"""A cluster worker applies the texts its leader ships: the engine, called directly.

The transports (Dask, Ray) are tested with real clusters in test_clusters.py;
here the worker's side runs in this process, on real files: what it does
with a module it imported itself before the texts came.
"""

from __future__ import annotations

import importlib
import sys
import threading
import zlib
from collections.abc import Iterator

import pytest

from hotfunc import _state
from hotfunc.processes import _remote
from hotfunc.testing import wait_for

# Plain, as a worker imports it when a task needs it: nothing made it hot.
MODULE = """
LOADS = []
LOADS.append(1)
VERSION = {version}


def answer():
    return ("answer {body}", VERSION)
"""


def _text(version: int, body: str = "") -> str:
    return MODULE.format(version=version, body=body).lstrip()


def _packed(version: int, body: str = "") -> bytes:
    return zlib.compress(_text(version, body).encode())


@pytest.fixture(autouse=True)
def _worker() -> Iterator[None]:
    """This process plays a worker, and is a plain process again afterwards."""
    yield
    _remote.uninstall()
    for table in (_state.shipped, _state.applied, _state.awaited):
        table.clear()


@pytest.mark.parametrize("body", ["", "v3"], ids=["constant", "function"])
def test_a_module_imported_before_its_file_was_saved_runs_the_saves(project, body):
    # The leader imported version 1 and saved versions 2 and 3.  This worker,
    # on the same machine, imported version 1 from the same file before the
    # saves, and gets the texts now.
    module = project.load(_text(1))
    project.edit(module, _text(3, body))
    name = module.__name__
    failures = _remote.apply({name: (2, _packed(3, body))}, {name: [_packed(1), _packed(2)]})
    assert failures == []
    assert module.answer() == (f"answer {body}", 3)
    assert module.LOADS == [1]  # the unchanged statement did not run again


def test_a_module_imported_from_a_text_nobody_shipped_is_named(project):
    module = project.load(_text(1))
    project.edit(module, _text(2, "v2"))
    failures = _remote.apply({module.__name__: (1, _packed(2, "v2"))})
    assert len(failures) == 1
    assert failures[0].startswith(f"{module.__file__}:1: {module.__name__} was imported here")
    assert "restart this worker" in failures[0]


def test_a_module_being_imported_gets_the_text_once_imported(project):
    # The texts come while another thread runs the module's import from the
    # worker's own file: they wait for it, then apply to the whole module.
    name = "half_imported"
    gate = threading.Event()
    sys.modules["gate_of_" + name] = gate  # type: ignore[assignment]
    project.write(
        name,
        "import sys\nsys.modules['gate_of_half_imported'].wait(30)\n" + _text(1),
    )
    importlib.invalidate_caches()
    importer = threading.Thread(target=importlib.import_module, args=(name,))
    importer.start()
    wait_for(lambda: name in sys.modules)
    text = "import sys\nsys.modules['gate_of_half_imported'].wait(30)\n" + _text(2, "v2")
    failures: list[list[str]] = []
    applier = threading.Thread(
        target=lambda: failures.append(_remote.apply({name: (1, zlib.compress(text.encode()))}))
    )
    applier.start()
    # Released once the texts have come: the applier waits for the import,
    # or (were it not to) has applied to the half-run module already.
    wait_for(lambda: not applier.is_alive() or _waits_for_import(applier))
    gate.set()
    importer.join(30)
    applier.join(30)
    assert failures == [[]]
    assert sys.modules[name].answer() == ("answer v2", 2)


def _waits_for_import(thread: threading.Thread) -> bool:
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "_wait_for_imports":
            return True
        frame = frame.f_back
    return False
