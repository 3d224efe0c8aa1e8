"""Make modules hot as they are imported, when their file matches a pattern.

Used by ``python -m hotfunc run``.  The finder sits first on ``sys.meta_path``
and asks the finders behind it, so an import costs one extra Python call; only
a module whose file matches gets a loader that calls ``hot(module)`` after the
module's code ran.
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from ..core._files import real_folder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Installed packages are never made hot, even when they live inside the
# watched folder (a virtual environment in the project, for one).
_NEVER = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")


class Patterns:
    """Which files are hot: folders (everything below them) or shell patterns."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.folders: list[str] = []
        self.globs: list[str] = []
        for pattern in patterns:
            path = os.path.realpath(os.path.expanduser(pattern))
            if os.path.isdir(path):
                self.folders.append(path.rstrip(os.sep) + os.sep)
            else:
                self.globs.append(path)

    def __call__(self, filename: str) -> bool:
        folder, name = os.path.split(filename)
        path = os.path.join(real_folder(folder), name)
        if any(part in path for part in _NEVER):
            return False
        return path.startswith(tuple(self.folders)) or any(
            fnmatch.fnmatch(path, glob) for glob in self.globs
        )

    def __repr__(self) -> str:
        return f"Patterns({[*self.folders, *self.globs]!r})"


# The finder and loader follow the import protocols without deriving from
# importlib.abc, whose import brings importlib.resources, typing, pathlib and
# tempfile into every process run under `hotfunc run`.


class _HotLoader:
    """Runs the real loader, then makes the module's own functions and classes hot."""

    def __init__(self, loader: Any, after: Callable[[ModuleType], None] | None) -> None:
        self._loader = loader
        self._after = after

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        from ..engine._decorator import hot

        hot(module)
        if self._after is not None:
            self._after(module)

    def __getattr__(self, name: str) -> Any:
        # get_source, get_code, is_package...: inspect and linecache use them.
        return getattr(self._loader, name)


class HotFinder:
    """Finds modules through the other finders and marks matching ones hot."""

    def __init__(self, match: Callable[[str], bool]) -> None:
        self.match = match
        #: Called with each module made hot, once it is.
        self.after: Callable[[ModuleType], None] | None = None

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        spec = find_behind(self, fullname, path, target)
        if (
            spec is not None
            and spec.origin
            and spec.has_location
            and isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            and self.match(spec.origin)
        ):
            spec.loader = _HotLoader(spec.loader, self.after)  # type: ignore[assignment]  # a Loader by protocol
        return spec


def find_behind(
    finder: object, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> importlib.machinery.ModuleSpec | None:
    """The spec the finders on ``sys.meta_path`` other than ``finder`` give."""
    for other in sys.meta_path:
        if other is finder or not hasattr(other, "find_spec"):
            continue
        spec: importlib.machinery.ModuleSpec | None = other.find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def install(match: Callable[[str], bool]) -> HotFinder:
    """Put a finder first on ``sys.meta_path``; return it, for ``uninstall``."""
    finder = HotFinder(match)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder: HotFinder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
