"""Apply, on a worker of a cluster, the saves of the process that the cluster follows.

The worker's files are its own copy and never change: each shipped text
stands in for its module's file (``_state.shipped``), and the engine runs
as it does on a save, so the worker's unchanged statements never run again
and its state is kept.  A module the worker has not imported yet runs the
shipped text when it is imported, in place of its file.

A module the worker imported from its own file before any text came is
compared with the text it is applied against: on the leader's machine the
file may have been saved since the import.  The text that made the live
code is found among the file and the earlier texts shipped with each set;
when none is, the worker says so.
"""

from __future__ import annotations

import ast
import importlib.machinery
import linecache
import os
import sys
import time
import zlib

from .. import _state
from .._state import registry
from ..core._codes import iter_codes
from ..core._wrappers import probe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType, ModuleType
    from typing import Any

    from ..core._sourcefile import SourceFile
    from ._ship import Earlier, Texts

#: How long a set of texts waits for an import under way in another thread.
IMPORT_WAIT = 30.0


def apply(texts: Texts, earlier: Earlier | None = None) -> list[str]:
    """Bring this worker's modules to ``texts``; return what fails here now, as
    ``file:line`` messages, for every module shipped so far.

    Texts already applied (by their save count) are skipped: a worker may
    get the same texts again, or an older set after a newer one.
    ``earlier`` holds, by module name, texts the module had before: one of
    them may be what this worker imported.
    """
    from ..engine._notify import publish
    from ..engine._reload import reload_source, retry_pending

    # A module another thread is importing is in sys.modules half run: its
    # text is applied once the import is over, and the wait holds no lock
    # the import may need.
    _wait_for_imports([n for n in texts if n in sys.modules])
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
            sources, problem = _sources_of(name, module, (earlier or {}).get(name, ()))
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


def _wait_for_imports(names: list[str]) -> None:
    deadline = time.monotonic() + IMPORT_WAIT
    for name in names:
        while _importing(sys.modules.get(name)) and time.monotonic() < deadline:
            time.sleep(0.005)


def _importing(module: object) -> bool:
    return probe(probe(module, "__spec__"), "_initializing") is True


def _sources_of(
    name: str, module: ModuleType, earlier: Sequence[bytes] = ()
) -> tuple[list[SourceFile], str | None]:
    """The registered files of ``module``, made hot first if need be; or why not."""
    if _importing(module):
        return [], (
            f"{name}: still being imported here after {IMPORT_WAIT:.0f} s, so the save "
            "is not applied to it"
        )
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
        for source in sources:
            problem = _find_imported_text(name, source, earlier)
            if problem is not None:
                return sources, problem
    if not sources:
        return [], f"{filename}:1: {name} cannot be made hot here, so the save is not applied"
    return sources, None


def _find_imported_text(name: str, source: SourceFile, earlier: Sequence[bytes]) -> str | None:
    """Make the text the live module was imported from the baseline of ``source``.

    The file was read as it is now, which is what the module ran unless it
    was saved since the import.  Of the file and the earlier texts, the one
    whose compiled functions are the live ones, and whose literal top-level
    values agree most with the live ones, is taken.  Returns why none is.
    """
    on_disk = source.imported_bytes()
    if on_disk is None:
        return None
    live = [f.__code__ for e in registry.entries_of(source) for f in e.functions]
    namespace = source.namespace or {}
    best: tuple[int, bytes] | None = None
    for text in [on_disk, *(zlib.decompress(p) for p in reversed(earlier))]:
        agreed = _agreement(text, source.filename, live, namespace)
        if agreed is not None and (best is None or agreed > best[0]):
            best = (agreed, text)
    if best is None:
        return (
            f"{source.path}:1: {name} was imported here from a text that neither its "
            "file nor any save of it matches (the file changed after the import); the "
            "save is applied against the file as it is, so code that changed before "
            "may still be old here: restart this worker"
        )
    if best[1] is not on_disk:
        source.imported, source.baseline, source.digest = best[1], None, None
    return None


def _agreement(
    text: bytes, filename: str, live: list[CodeType], namespace: dict[str, Any]
) -> int | None:
    """How many literal top-level values of ``text`` the live module holds; None
    unless compiling it gives the code of every live function."""
    try:
        tree = ast.parse(text, filename)
        module = compile(tree, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    codes = dict(iter_codes(module))
    if any(codes.get((code.co_qualname, code.co_firstlineno)) != code for code in live):
        return None
    agreed = 0
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        try:
            literal = ast.literal_eval(value)
            held = namespace.get(target.id, _agreement)
            agreed += type(held) is type(literal) and bool(held == literal)
        except Exception:  # not a literal, or a value whose == raises
            continue
    return agreed


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
