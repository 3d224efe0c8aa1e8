"""Apply, on a worker of a cluster, the saves of the process that the cluster follows.

The worker's files are its own copy and never change: each shipped text
stands in for its module's file (``_state.shipped``), and the engine runs
as it does on a save, so the worker's unchanged statements never run again
and its state is kept.  A module the worker has not imported yet runs the
shipped text when it is imported, in place of its file.
"""

from __future__ import annotations

import importlib.machinery
import linecache
import os
import sys
import zlib

from .. import _state
from .._state import registry
from ..core._wrappers import probe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from ._ship import Texts


def apply(texts: Texts) -> list[str]:
    """Bring this worker's modules to ``texts``; return what fails here now, as
    ``file:line`` messages, for every module shipped so far.

    Texts already applied (by their save count) are skipped: a worker may
    get the same texts again, or an older set after a newer one.
    """
    from ..engine._notify import publish
    from ..engine._reload import reload_source, retry_pending

    with _state.receiving:
        _install()
        touched = []
        ordered = sorted(texts.items(), key=lambda item: item[1][0])
        todo = [(n, c, p) for n, (c, p) in ordered if _state.applied.get(n, (-1, []))[0] < c]
        # First the modules not imported here: an import that another thread
        # makes while the others apply finds their text waiting.
        for name, count, packed in todo:
            if name not in sys.modules:
                _state.awaited[name] = (count, zlib.decompress(packed))  # runs at import
                _state.applied[name] = (count, [])
        for name, count, packed in todo:
            module = sys.modules.get(name)
            if module is None:
                continue  # its text waits for its import
            # Imported meanwhile, from this worker's own file: a save applies it.
            _state.awaited.pop(name, None)
            text = zlib.decompress(packed)
            sources, problem = _sources_of(name, module)
            if problem is not None:
                _state.applied[name] = (count, [problem])
                continue
            failed: list[str] = []
            for source in sources:
                assert source.path is not None
                _state.shipped[source.path] = text
                events = reload_source(source)
                publish(events)
                failed.extend(e.error for e in events if not e.ok and e.error)
            _state.applied[name] = (count, failed)
            touched.append((name, sources))
        if touched:
            publish(retry_pending())
        for name, sources in touched:
            count, failed = _state.applied[name]
            pending = [f for s in sources for f in s.failures if f not in failed]
            _state.applied[name] = (count, [*dict.fromkeys(failed), *pending])
        return [f for _, failed in _state.applied.values() for f in failed]


def _sources_of(name: str, module: ModuleType) -> tuple[list[Any], str | None]:
    """The registered files of ``module``, made hot first if need be; or why not."""
    filename = probe(module, "__file__")
    if not isinstance(filename, str) or not filename.endswith(".py"):
        return [], (
            f"{name}: the module has no Python source file here ({filename!r}), "
            "so the save cannot be applied to it"
        )
    path = os.path.realpath(filename)
    sources = registry.sources_at(path, real=True)
    if not sources:
        from ..engine._decorator import hot_module

        hot_module(module)  # as imported: from this worker's own copy
        sources = registry.sources_at(path, real=True)
    if not sources:
        return [], f"{filename}:1: {name} cannot be made hot here, so the save is not applied"
    return sources, None


class _ShippedLoader:
    """Runs the shipped text of a module in place of its file, then makes it hot."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        with _state.receiving:
            _count, text = _state.awaited.pop(self._name, (0, None))
        origin = module.__spec__.origin if module.__spec__ is not None else None
        if text is None or origin is None:
            self._loader.exec_module(module)
            return
        _state.shipped[os.path.realpath(origin)] = text
        lines = text.decode("utf-8", "replace").splitlines(keepends=True)
        linecache.cache[origin] = (len(text), None, lines, origin)
        exec(compile(text, origin, "exec", dont_inherit=True), module.__dict__)
        from ..engine._decorator import hot_module

        hot_module(module)

    def get_source(self, name: str) -> str:
        path = os.path.realpath(self._loader.get_filename(name))
        text = _state.shipped.get(path)
        if text is None:
            source: str = self._loader.get_source(name)
            return source
        return text.decode("utf-8", "replace")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class ShippedFinder:
    """Finds modules through the other finders; one with a shipped text gets its loader."""

    def find_spec(
        self,
        fullname: str,
        path: Any = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _state.awaited:
            return None
        from ._importhook import find_behind

        spec = find_behind(self, fullname, path, target)
        if spec is None:
            return None
        # Under `hotfunc run`, the loader is wrapped already: unwrap it,
        # since this one makes the module hot too.
        loader = getattr(spec.loader, "_loader", spec.loader)
        if spec.origin and isinstance(loader, importlib.machinery.SourceFileLoader):
            spec.loader = _ShippedLoader(loader, fullname)  # type: ignore[assignment]
        return spec


def _install() -> None:
    if not any(isinstance(finder, ShippedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, ShippedFinder())


def uninstall() -> None:
    """Stop running shipped texts at import; what was applied stays."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, ShippedFinder)]
