from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import hotfunc
from hotfunc import testing
from hotfunc.engine import _incremental, _recompile

_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolate() -> Iterator[None]:
    """Each test starts with an empty registry and leaves sys.modules/sys.path as it found them."""
    modules = dict(sys.modules)
    path = list(sys.path)
    testing.reset()
    yield
    testing.reset()
    for name in set(sys.modules) - set(modules):
        del sys.modules[name]
    sys.path[:] = path


class Project:
    """A folder of real modules on sys.path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        sys.path.insert(0, str(root))

    def write(self, name: str, source: str, *, atomic: bool = False) -> Path:
        path = self.root / f"{name}.py"
        testing.write_source(path, textwrap.dedent(source), atomic=atomic)
        return path

    def load(self, source: str, name: str | None = None) -> ModuleType:
        name = name or f"hotmod_{next(_counter)}"
        self.write(name, source)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    def edit(self, module: ModuleType, source: str, *, atomic: bool = False) -> None:
        assert module.__file__ is not None
        testing.write_source(module.__file__, textwrap.dedent(source), atomic=atomic)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def watching() -> Iterator[None]:
    """The real watcher runs for the test."""
    hotfunc.start()
    yield
    hotfunc.stop()


@pytest.fixture
def wait() -> Callable[..., None]:
    return testing.wait_for


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record (filename, text) of every compile, full or incremental."""
    calls: list[tuple[str, str]] = []
    full, incremental = _recompile.compile_source, _incremental.update_source

    def compile_source(text: str, filename: str) -> _recompile.CompiledSource:
        calls.append((filename, text))
        return full(text, filename)

    def update_source(
        old: _recompile.CompiledSource, text: str, filename: str
    ) -> _recompile.CompiledSource:
        calls.append((filename, text))
        return incremental(old, text, filename)

    monkeypatch.setattr(_recompile, "compile_source", compile_source)
    monkeypatch.setattr(_incremental, "compile_source", compile_source)
    monkeypatch.setattr(_incremental, "update_source", update_source)
    return calls
