"""The pieces of a ``--hot`` session around the loop: the project's files, the watcher
that hands saves over, what the engine said, the keys, and pytest's modules and fixtures.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import logging
import os
import queue
import threading

import pytest

from ..core._entry import ReloadEvent
from ..watch._watcher import FileWatcher
from . import _changes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from _pytest import nodes
    from _pytest.fixtures import FixtureDef

    from ..processes._importhook import HotFinder


FAILED = frozenset({"failed", "error"})


def outcome_of(report: pytest.TestReport, before: str | None) -> str:
    """A test's outcome so far, after one of its phases' reports."""
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if before in FAILED:
        return before
    if report.when == "call" or report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
    return before or "passed"


def is_test_file(config: pytest.Config, path: str) -> bool:
    name = os.path.basename(path)
    if name == "conftest.py":
        return True
    patterns: list[str] = config.getini("python_files")
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


# hotfunc's own files: recorded when the project is hotfunc, never applied in
# place, as the loop runs on them.
_OWN = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


class Project:
    """Which files are the project's: below the root, outside installed packages."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root) + os.sep
        self._known: dict[str, bool] = {}

    def hot(self, filename: str) -> bool:
        """Whether a module of the project may be applied in place."""
        return self(filename) and not os.path.realpath(filename).startswith(_OWN)

    def __call__(self, filename: str) -> bool:
        known = self._known.get(filename)
        if known is None:
            path = os.path.realpath(filename) if filename.endswith(".py") else ""
            known = self._known[filename] = (
                path.startswith(self.root)
                and f"{os.sep}site-packages{os.sep}" not in path
                and f"{os.sep}.venv" not in path
            )
        return known


def make_imports_hot(config: pytest.Config) -> None:
    """Modules of the project imported from now on are hot; test modules are pytest's."""
    global hot_imports
    from ..processes import _importhook

    project = Project(str(config.rootpath))
    hot_imports = _importhook.install(
        lambda name: project.hot(name) and not is_test_file(config, name)
    )


#: The finder ``make_imports_hot`` installed.
hot_imports: HotFinder | None = None


class Keep:
    """The next item for the last test of a run: the fixtures above it stay set up."""

    def __init__(self, node: nodes.Node) -> None:
        self._chain = node.listchain()[:-1]

    def listchain(self) -> list[nodes.Node]:
        return self._chain


class LoopWatcher(FileWatcher):
    """The engine's watcher, which also hands each applied batch to the loop."""

    def __init__(
        self,
        inbox: queue.SimpleQueue[tuple[str, Any]],
        polling: bool,
        lifted: Callable[[], contextlib.AbstractContextManager[None]],
    ) -> None:
        super().__init__(polling=polling, interval=0.5)
        self._inbox = inbox
        self._lifted = lifted
        #: Set while no batch is being applied.
        self.idle = threading.Event()
        self.idle.set()

    def _changed(self, paths: set[str]) -> None:
        _applying.on = True
        self.idle.clear()
        try:
            with self._lifted():
                super()._changed(paths)
        finally:
            _applying.on = False
            self.idle.set()

    def applied(self, paths: set[str], events: list[ReloadEvent]) -> None:
        self._inbox.put(("save", (paths, events)))


#: ``on`` while this thread applies a save for the loop.
_applying = threading.local()


class Notes(logging.Filter):
    """What the engine says as it applies a save: told on pytest's thread, between runs.

    The engine's lines would otherwise land in a running test's captured
    output.  What hotfunc says on any other thread (a test of a project that
    uses hotfunc) goes where it goes in a plain run.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_applying, "on", False):
            self.records.put(record)
            return False
        return True

    def take(self) -> list[logging.LogRecord]:
        taken: list[logging.LogRecord] = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self.records.get_nowait())
        return taken


# What the engine says when a save leaves something a fresh import would not.
UNVOUCHED = (
    "read it at startup",
    "instances keep the old class",
    "may still be registered",
)


def _under(node: object, ancestor: pytest.Module) -> bool:
    chain = getattr(node, "listchain", None)
    return node is ancestor or (chain is not None and ancestor in chain())


def fixtures_under(manager: Any, module: pytest.Module) -> list[FixtureDef[Any]]:
    """The fixtures a test module (and its classes) defines."""
    by_node = getattr(manager, "_arg2node2fixturedefs", None)
    if by_node is not None:  # pytest 9
        return [
            fd
            for nodes in by_node.values()
            for node, defs in nodes.items()
            if _under(node, module)
            for fd in defs
        ]
    nodeid = module.nodeid
    return [
        fd
        for defs in manager._arg2fixturedefs.values()
        for fd in defs
        if fd.baseid == nodeid or fd.baseid.startswith(nodeid + "::")
    ]


def forget_fixtures(manager: Any, module: pytest.Module, stale: list[FixtureDef[Any]]) -> None:
    """Drop the fixtures of a test module imported afresh: its new ones stand in."""
    by_node = getattr(manager, "_arg2node2fixturedefs", None)
    if by_node is not None:
        for nodes in by_node.values():
            for node in [n for n in nodes if _under(n, module)]:
                del nodes[node]
        autouse = getattr(manager, "_node_autousenames", {})
        for node in [n for n in autouse if _under(n, module)]:
            del autouse[node]
        return
    for defs in manager._arg2fixturedefs.values():
        defs[:] = [fd for fd in defs if fd not in stale]


def module_path(item: pytest.Item) -> str:
    return _real(str(item.path))


# A save looks up the module of every item for each test module it collects
# again: thousands of realpath() calls, each a system call per path part.
@functools.lru_cache(maxsize=4096)
def _real(path: str) -> str:
    return os.path.realpath(path)


def module_reads(text: str) -> set[str]:
    """Names a test module reads outside its functions' bodies (at import, in decorators)."""
    import ast

    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    reads: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            continue
        if isinstance(node, ast.Name):
            reads.add(node.id)
        elif isinstance(node, ast.Attribute):
            reads.add(node.attr)
        stack.extend(ast.iter_child_nodes(node))
    return reads


def short(path: str) -> str:
    from ..core._table import short_path

    return short_path(path)


def describe(path: str, change: _changes.Change, events: list[ReloadEvent]) -> str:
    versions = {
        e.entry.qualname: e.version
        for e in events
        if e.entry is not None and e.action == "swapped" and os.path.realpath(e.file) == path
    }
    parts = [f"{q} v{versions[q]}" if q in versions else q for q in sorted(change.qualnames)]
    parts += sorted(change.names - set(change.qualnames))
    listed = ", ".join(parts[:5]) + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"{short(path)}: {listed}"


def tests_phrase(count: int) -> str:
    return f"{count} test{'s' if count != 1 else ''}"


class Keys:
    """Enter, a and q from the terminal, read on a thread of their own."""

    def __init__(self, inbox: queue.SimpleQueue[tuple[str, Any]]) -> None:
        self._inbox = inbox
        self._fd: int | None = None
        self._saved: Any = None
        try:
            import termios
            import tty

            self._fd = os.open("/dev/tty", os.O_RDONLY)
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        except (OSError, ImportError, Exception):
            self.close()
            return
        threading.Thread(target=self._read, name="hotfunc-keys", daemon=True).start()

    def _read(self) -> None:
        fd = self._fd
        while fd is not None:
            try:
                key = os.read(fd, 1)
            except OSError:
                return
            if not key:
                return
            command = {b"\n": "failed", b"\r": "failed", b"a": "all", b"q": "quit"}.get(key)
            if command is not None:
                self._inbox.put((command, None))

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._saved is not None:
            import termios

            with contextlib.suppress(Exception):
                termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)
        with contextlib.suppress(OSError):
            os.close(fd)
