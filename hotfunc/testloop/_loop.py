"""The hot test loop: one pytest session that applies each save and runs what it affects.

The session runs the selected tests once, as pytest would, then waits.  The
watcher applies a save of the project's code in place (the engine); the loop,
on pytest's thread, compares the file with its last text (``_changes``), asks
the record of what each test ran (``_record``) which tests that reaches, sets
up again the fixtures whose code changed, collects a saved test module again,
and runs the tests through pytest's own protocol and reporting.  Session- and
module-scoped fixtures stay set up between runs.

A save the engine applies but cannot vouch for (a class rebuilt, a statement
reported stale, a decorator run again, a signature a framework read at start)
starts the loop afresh in a new process, which runs the affected tests.  A
save that fails (a syntax error, a statement that raised) runs the affected
tests in a fresh pytest process, which shows what a fresh run shows.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Iterable
from types import ModuleType

import pytest

from .. import _state
from ..core._entry import ReloadEvent
from ..watch._watcher import FileWatcher
from . import _changes
from ._record import SPAWNS, Key, Record, Recorder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from _pytest import nodes
    from _pytest.fixtures import FixtureDef, SubRequest

logger = logging.getLogger("hotfunc")

#: Whether stdin was a terminal when pytest started (read before its capture).
keys_from_terminal = False

#: Set in the process the loop starts afresh in: the file with what to carry over.
_STATE = "HOTFUNC_TESTLOOP_STATE"

# Options that pick tests from pytest's cache: the fresh processes the loop
# starts are given the tests to run instead.
_CACHE_PICKS = frozenset(
    {"--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first", "--sw", "--stepwise"}
)

_FAILED = frozenset({"failed", "error"})


def outcome_of(report: pytest.TestReport, before: str | None) -> str:
    """A test's outcome so far, after one of its phases' reports."""
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if before in _FAILED:
        return before
    if report.when == "call" or report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
    return before or "passed"


def _is_test_file(config: pytest.Config, path: str) -> bool:
    name = os.path.basename(path)
    if name == "conftest.py":
        return True
    patterns: list[str] = config.getini("python_files")
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


# hotfunc's own files: recorded when the project is hotfunc, never applied in
# place, as the loop runs on them.
_OWN = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


class _Project:
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
    from ..processes import _importhook

    project = _Project(str(config.rootpath))
    _importhook.install(lambda name: project.hot(name) and not _is_test_file(config, name))


class _Keep:
    """The next item for the last test of a run: the fixtures above it stay set up."""

    def __init__(self, node: nodes.Node) -> None:
        self._chain = node.listchain()[:-1]

    def listchain(self) -> list[nodes.Node]:
        return self._chain


class _LoopWatcher(FileWatcher):
    """The engine's watcher, which also hands each applied batch to the loop."""

    def __init__(self, inbox: queue.SimpleQueue[tuple[str, Any]], polling: bool) -> None:
        super().__init__(polling=polling, interval=0.5)
        self._inbox = inbox

    def _changed(self, paths: set[str]) -> None:
        _applying.on = True
        try:
            super()._changed(paths)
        finally:
            _applying.on = False

    def applied(self, paths: set[str], events: list[ReloadEvent]) -> None:
        self._inbox.put(("save", (paths, events)))


#: ``on`` while this thread applies a save for the loop.
_applying = threading.local()


class _Notes(logging.Filter):
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
_UNVOUCHED = (
    "read it at startup",
    "instances keep the old class",
    "may still be registered",
)


class Loop:
    """The plugin object of a ``--hot`` session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.project = _Project(str(config.rootpath))
        self.recorder = Recorder(self.project)
        self.record = Record()
        self.outcomes: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        # The last text of each saved file, parsed: a file saved again is parsed once.
        self.snapshots: dict[str, _changes.Snapshot] = {}
        self.modules: dict[str, pytest.Module] = {}
        self.module_reads: dict[str, set[str]] = {}
        self.fixture_keys: dict[FixtureDef[Any], frozenset[Key]] = {}
        self.fixture_requests: dict[FixtureDef[Any], SubRequest] = {}
        self.inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.items: list[pytest.Item] = []
        self.fresh = bool(config.option.hot_fresh_fixtures)
        self.notes = _Notes()
        self.watcher: _LoopWatcher | None = None
        self.carried: dict[str, Any] | None = None
        self._terminal: Any = None

    # -- recording, as pytest runs each test

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self.outcomes.pop(item.nodeid, None)
        # A test run again would show the output captured in its earlier runs too.
        item._report_sections = []
        self.recorder.begin()
        try:
            return (yield)
        finally:
            self.record.update(item.nodeid, self.recorder.end())

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        # A plain test function is recorded by pytest_pyfunc_call; items that
        # run otherwise (unittest cases, doctests) in the whole of runtest().
        whole = type(item).runtest is not pytest.Function.runtest
        if whole:
            self.recorder.resume()
        try:
            return (yield)
        finally:
            if whole:
                self.recorder.pause()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_pyfunc_call(self) -> Generator[None, object, object]:
        self.recorder.resume()
        try:
            return (yield)
        finally:
            self.recorder.pause()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, object, object]:
        # Only the project's fixtures run the project's code as they finish.
        ours = self._uses_project_fixtures(item)
        if ours:
            self.recorder.resume()
        try:
            return (yield)
        finally:
            if ours:
                self.recorder.pause()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_fixture_setup(
        self, fixturedef: FixtureDef[Any], request: SubRequest
    ) -> Generator[None, object, object]:
        self.recorder.push()
        self.recorder.resume()
        try:
            return (yield)
        finally:
            self.recorder.pause()
            self.fixture_keys[fixturedef] = self.recorder.pop()
            self.fixture_requests[fixturedef] = request

    def _uses_project_fixtures(self, item: pytest.Item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        for fixturedefs in getattr(info, "name2fixturedefs", {}).values():
            for fixturedef in fixturedefs:
                code = getattr(fixturedef.func, "__code__", None)
                if code is not None and self.project(code.co_filename):
                    return True
        return False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.outcomes[report.nodeid] = outcome_of(report, self.outcomes.get(report.nodeid))

    # -- the session

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        from ..engine._decorator import hot

        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None) if isinstance(module, ModuleType) else None
            if not isinstance(filename, str) or not self.project(filename):
                continue
            if os.path.basename(filename) == "conftest.py" or not _is_test_file(
                self.config, filename
            ):
                # conftest.py files are pytest's plugins: applied in place too.
                if self.project.hot(filename):
                    with contextlib.suppress(Exception):
                        hot(module)
                self._remember_text(filename)
        for item in session.items:
            self._remember_item(item)

    def _remember_item(self, item: pytest.Item) -> None:
        module = item.getparent(pytest.Module)
        if module is None:
            return
        path = str(module.path)
        if path not in self.modules:
            self.modules[path] = module
            text = self._remember_text(path)
            if text is not None:
                self.module_reads[path] = _module_reads(text)

    def _remember_text(self, path: str) -> str | None:
        real = os.path.realpath(path)
        try:
            with open(real, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            return None
        self.texts[real] = text
        return text

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if session.config.option.collectonly:
            return None  # pytest's own loop
        self.session = session
        self._terminal = session.config.pluginmanager.get_plugin("terminalreporter")
        self.items = list(session.items)
        self._carry_over()
        hotfunc_logger = logging.getLogger("hotfunc")
        level = hotfunc_logger.level
        hotfunc_logger.addFilter(self.notes)
        hotfunc_logger.setLevel(logging.INFO)
        self.recorder.install()
        if not self.recorder.available:
            self._say(
                f"cannot record which code each test runs: {self.recorder.why_not}; "
                "each save runs every test",
                warn=True,
            )
        keys = _Keys(self.inbox) if keys_from_terminal else None
        try:
            self._start_watcher()
            self._loop(keys)
        except KeyboardInterrupt:
            self._say("interrupted; stopping")
        finally:
            if keys is not None:
                keys.close()
            if self.watcher is not None:
                self.watcher.stop()
            self.recorder.uninstall()
            hotfunc_logger.removeFilter(self.notes)
            hotfunc_logger.setLevel(level)
            self._teardown(None)
        failing = sum(1 for o in self.outcomes.values() if o in _FAILED)
        session.testsfailed = failing
        # The last run's report was shown: pytest's closing summary gives its line only.
        self.config.option.no_summary = True
        return True

    def _start_watcher(self) -> None:
        # Not the process's watcher (_state.watcher): the tests may start
        # and stop that one, when the project is one that uses hotfunc.
        watcher = _LoopWatcher(self.inbox, _state.settings.polling)
        watcher.start(sorted(self.texts))
        for path in self.config.args or [str(self.config.rootpath)]:
            folder = os.path.realpath(path)
            if os.path.isdir(folder):
                watcher.watch(os.path.join(folder, "__init__.py"))
        _state.started = True
        self.watcher = watcher
        self._watch_new()
        self._drain_start()

    def _watch_new(self) -> None:
        """Watch the hot files the tests imported since the last look."""
        watcher = self.watcher
        if watcher is None:
            return
        for path in _state.registry.paths():
            if path not in self.texts:
                self._remember_text(path)
                watcher.watch(path)

    def _drain_start(self) -> None:
        # The watcher's first pass rereads every file; none changed yet.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                kind, _ = self.inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "save":
                return

    def _loop(self, keys: _Keys | None) -> None:
        first = self.items
        why = ""
        if self.carried is not None:
            wanted = set(self.carried["run"]) | self._failed()
            first = [i for i in self.items if i.nodeid in wanted]
            why = f"hotfunc: started afresh: {self.carried['why']} → {_tests(len(first))}"
        if why and self._terminal is not None:
            self._terminal.write_line(why, bold=True)
        self._run(first, why, first=True)
        lfplugin = self.config.pluginmanager.get_plugin("lfplugin")
        if lfplugin is not None:
            lfplugin.active = False  # the loop picks tests from now on
        self._say(
            "watching for saves"
            + ("; Enter runs the failed tests again, a runs all, q quits" if keys else "")
        )
        while True:
            kind, what = self.inbox.get()
            if kind == "quit":
                return
            if kind == "failed":
                self._run([i for i in self.items if i.nodeid in self._failed()], "hotfunc: failed")
            elif kind == "all":
                self._run(list(self.items), "hotfunc: all tests")
            elif kind == "save":
                batch = [what]
                time.sleep(0.005)  # an editor's save is often several writes
                with contextlib.suppress(queue.Empty):
                    while True:
                        more = self.inbox.get_nowait()
                        if more[0] == "save":
                            batch.append(more[1])
                        else:
                            self.inbox.put(more)
                            break
                self._saved(batch)

    # -- what a save changed

    def _saved(self, batch: list[tuple[set[str], list[ReloadEvent]]]) -> None:
        paths: set[str] = set()
        events: list[ReloadEvent] = []
        for changed, applied in batch:
            paths |= changed
            events += applied
        unvouched: list[str] = []
        for record in self.notes.take():
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                self._say(message, warn=True)
            if any(phrase in message for phrase in _UNVOUCHED):
                unvouched.append(message)
        unvouched += [e.error for e in events if e.action == "stale" and e.error]
        failed = [e for e in events if not e.ok and e.action != "stale"]
        # A broken file's last good text stays the one to compare with.
        broken = {os.path.realpath(e.file) for e in failed if e.file}
        keys: set[Key] = set()
        names: set[str] = set()
        what: list[str] = []
        recollect: set[str] = set()
        deleted: set[str] = set()
        sources_changed = False
        for path in sorted(p for p in paths if p.endswith(".py")):
            real = os.path.realpath(path)
            if real in broken:
                continue
            is_test_module = real in self.modules or (
                _is_test_file(self.config, real) and os.path.basename(real) != "conftest.py"
            )
            old = self.texts.get(real)
            if old is None and not is_test_module:
                continue  # not a file of the session
            try:
                with open(real, encoding="utf-8") as file:
                    new = file.read()
            except FileNotFoundError:
                if is_test_module and real in self.modules:
                    deleted.add(real)
                    what.append(f"{_short(real)} deleted")
                continue
            except (OSError, UnicodeDecodeError):
                continue
            if old is None:
                unvouched.append(f"{_short(real)}: a new test file")
                continue
            if new == old:
                continue
            last = self.snapshots.get(real)
            try:
                after = _changes.Snapshot(new, real)
                change = _changes.compare(
                    last if last is not None and last.text == old else old, after, real
                )
            except SyntaxError as exc:
                if is_test_module:
                    recollect.add(real)  # the collection error is the report
                    what.append(f"{_short(real)}:{exc.lineno}: {exc.msg}")
                continue
            self.texts[real] = new
            self.snapshots[real] = after
            if is_test_module:
                recollect.add(real)
                self.module_reads[real] = _module_reads(new)
            elif change:
                sources_changed = True
                reason = self._not_in_place(real, change)
                if reason:
                    unvouched.append(reason)
            if change:
                keys |= self.record.keys_in(real, change.qualnames)
                names |= change.names
                what.append(_describe(real, change, events))
        keys |= self.record.keys_reading(names, self.recorder.names)
        if sources_changed:
            keys.add(SPAWNS)  # a child process may run any of the project's code
        # Test modules that read a changed name at import (a constant, a
        # parametrize list) are imported again, and all their tests run.
        reaching = {
            path
            for path, reads in self.module_reads.items()
            if path not in recollect and not names.isdisjoint(reads)
        }
        recollect |= reaching
        affected = self.record.tests_of(keys)
        if not self.recorder.available and sources_changed:
            affected = {i.nodeid for i in self.items}
        fixtures = [fd for fd, fkeys in self.fixture_keys.items() if not fkeys.isdisjoint(keys)]
        for fixturedef in fixtures:
            affected |= self._users_of(fixturedef)
        if failed:
            self._run_fresh(affected | self._failed(), "the save failed")
            return
        if unvouched:
            self._restart(affected, "; ".join(unvouched))
            return
        for fixturedef in fixtures:
            self._finish(fixturedef)
        added: set[str] = set()
        for path in sorted(recollect | deleted):
            before = {i.nodeid for i in self.items if _module_path(i) == path}
            if path in deleted:
                self._drop(path)
            else:
                self._recollect(path)
            now = {i.nodeid for i in self.items if _module_path(i) == path}
            added |= now if path in reaching else now - before
            for gone in before - now:
                self.record.forget(gone)
                self.outcomes.pop(gone, None)
        if not what:
            return  # the files are as they were (the watcher's first look, a touch)
        failed_before = self._failed()
        run = affected | added | failed_before
        items = [i for i in self.items if i.nodeid in run]
        counts = []
        if affected or added:
            counts.append(f"{len((affected | added) & {i.nodeid for i in items})} affected")
        if failed_before - affected - added:
            counts.append(f"{len(failed_before - affected - added)} failed last time")
        line = f"hotfunc: {'; '.join(what)} → {_tests(len(items)) if items else 'no test to run'}"
        if counts:
            line += f" ({', '.join(counts)})"
        if not items:
            self._say(line)
            return
        self._run(items, line)

    def _not_in_place(self, path: str, change: _changes.Change) -> str:
        """Why a changed file of the project was not brought to a fresh import's state, if so."""
        sources = _state.registry.sources_at(path)
        if not sources:
            return f"{_short(path)} is not applied in place (it is not hot)"
        if os.path.basename(path) != "conftest.py" or not change.names:
            return ""
        # pytest read the fixtures and hooks of a conftest.py at its start.
        namespace = sources[0].namespace or {}
        for name in sorted(change.names):
            value = namespace.get(name)
            fixture = value is not None and type(value).__name__ == "FixtureFunctionDefinition"
            if fixture or name.startswith("pytest_") or self._is_fixture_name(name):
                return f"{_short(path)}: fixture or hook {name!r} added, removed or redefined"
        return ""

    def _is_fixture_name(self, name: str) -> bool:
        manager = self.session._fixturemanager
        known = getattr(manager, "_arg2node2fixturedefs", None)
        if known is None:
            known = getattr(manager, "_arg2fixturedefs", {})
        return name in known

    def _drop(self, path: str) -> None:
        """A deleted test module: its tests go."""
        old = self.modules.pop(path, None)
        if old is not None:
            self._teardown(_Keep(old))
        self.items = [i for i in self.items if _module_path(i) != path]
        self.session.items = self.items
        self.texts.pop(path, None)
        self.snapshots.pop(path, None)
        self.module_reads.pop(path, None)

    def _users_of(self, fixturedef: FixtureDef[Any]) -> set[str]:
        base = fixturedef.baseid
        return {
            i.nodeid
            for i in self.items
            if fixturedef.argname in getattr(i, "fixturenames", ())
            and (not base or i.nodeid.startswith(base))
        }

    def _finish(self, fixturedef: FixtureDef[Any]) -> None:
        """Tear a fixture down (its dependents first); its next use sets it up anew."""
        request = self.fixture_requests.pop(fixturedef, None)
        self.fixture_keys.pop(fixturedef, None)
        if request is None or fixturedef.cached_result is None:
            return
        try:
            fixturedef.finish(request)
        except Exception as exc:
            self._say(f"tearing down fixture {fixturedef.argname!r} raised {exc!r}", warn=True)

    def _recollect(self, path: str) -> None:
        """Import a saved test module afresh and put its new tests in place of the old."""
        old = self.modules.get(path)
        if old is None:
            return
        session = self.session
        self._teardown(_Keep(old))  # the old module's fixtures go with it
        name = getattr(old, "_obj", None)
        if isinstance(name, ModuleType):
            sys.modules.pop(name.__name__, None)
        stale = _fixtures_under(session._fixturemanager, old)
        for fd in stale:
            self._finish(fd)
        node = type(old).from_parent(old.parent, path=old.path)
        items = list(session.genitems(node))
        _forget_fixtures(session._fixturemanager, old, stale)
        if items:
            self.config.hook.pytest_collection_modifyitems(
                session=session, config=self.config, items=items
            )
        self.modules[path] = node
        positions = [n for n, i in enumerate(self.items) if _module_path(i) == path]
        at = positions[0] if positions else len(self.items)
        kept = [i for i in self.items if _module_path(i) != path]
        self.items = [*kept[:at], *items, *kept[at:]]
        session.items = self.items

    # -- running

    def _failed(self) -> set[str]:
        nodeids = {i.nodeid for i in self.items}
        return {n for n, o in self.outcomes.items() if o in _FAILED and n in nodeids}

    def _run(self, items: list[pytest.Item], why: str, first: bool = False) -> None:
        session = self.session
        terminal = self._terminal
        if terminal is not None and not first:
            from _pytest import timing

            if why:
                terminal.write_line("")
                terminal.write_line(why, bold=True)
            terminal.stats = {}
            terminal._progress_nodeids_reported = set()
            terminal.currentfspath = None
            terminal._session_start = timing.Instant()
        session.testscollected = len(items)
        session.testsfailed = 0
        session.shouldfail = False
        session.shouldstop = False
        if self.fresh:
            self._teardown(None)
        started = time.perf_counter()
        try:
            for n, item in enumerate(items):
                if n == 0:
                    self._teardown(item)
                nextitem: Any = items[n + 1] if n + 1 < len(items) else _Keep(item)
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                if session.shouldfail or session.shouldstop:
                    break
        finally:
            if terminal is not None:
                status = pytest.ExitCode.TESTS_FAILED if session.testsfailed else pytest.ExitCode.OK
                terminal._tw.line("")
                self.config.hook.pytest_terminal_summary(
                    terminalreporter=terminal, exitstatus=status, config=self.config
                )
                if session.shouldfail:
                    terminal.write_sep("!", str(session.shouldfail), red=True)
                terminal.summary_stats()
        logger.debug("ran %d tests in %.3f s", len(items), time.perf_counter() - started)
        self._watch_new()

    def _teardown(self, nextitem: Any) -> None:
        """Tear down what ``nextitem`` (None: everything) does not need."""
        try:
            self.session._setupstate.teardown_exact(nextitem)
        except AttributeError:
            return  # the session never got as far as running
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._say(f"tearing down fixtures raised {exc!r}", warn=True)

    def _say(self, message: str, warn: bool = False) -> None:
        terminal = self._terminal
        line = message if message.startswith("hotfunc: ") else f"hotfunc: {message}"
        if terminal is not None:
            terminal.write_line(line, yellow=warn)
        else:
            print(line, file=sys.stderr, flush=True)

    # -- fresh processes

    def _fresh_args(self, nodeids: Iterable[str]) -> list[str]:
        given = set(self.config.args)
        args = [
            a
            for a in self.config.invocation_params.args
            if a not in given and a not in _CACHE_PICKS and not a.startswith("--hot")
        ]
        return [sys.executable, "-m", "pytest", *args, *sorted(nodeids)]

    def _run_fresh(self, nodeids: set[str], why: str) -> None:
        """Run ``nodeids`` (every test, when empty) in a fresh pytest process."""
        if not nodeids:
            nodeids = {i.nodeid for i in self.items}
        self._say(f"{why}: {_tests(len(nodeids))} run in a fresh pytest process")
        env = {k: v for k, v in os.environ.items() if k not in ("HOTFUNC_FOLLOW", _STATE)}
        with tempfile.TemporaryDirectory(prefix="hotfunc-") as folder:
            report = os.path.join(folder, "outcomes.json")
            command = [*self._fresh_args(nodeids), "--hot-report", report]
            sys.stdout.flush()
            subprocess.run(command, env=env, cwd=self.config.invocation_params.dir, check=False)
            try:
                with open(report, encoding="utf-8") as file:
                    outcomes: dict[str, str] = json.load(file)
            except (OSError, ValueError):
                outcomes = {}
        for nodeid in nodeids:
            self.outcomes[nodeid] = outcomes.get(nodeid, "error")

    def _restart(self, affected: set[str], why: str) -> None:
        """Start the loop afresh in a new process, which runs ``affected`` (all when empty)."""
        run = affected or {i.nodeid for i in self.items}
        self._say(f"{why}: starting afresh in a new process")
        state = {
            "why": why,
            "run": sorted(run),
            "outcomes": self.outcomes,
            "tests": {n: sorted(map(list, keys)) for n, keys in self.record.tests.items()},
            "names": [[list(key), sorted(names)] for key, names in self.recorder.names.items()],
        }
        handle, path = tempfile.mkstemp(prefix="hotfunc-loop-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(state, file)
        self._teardown(None)
        if self.watcher is not None:
            self.watcher.stop()
        self.recorder.uninstall()
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[_STATE] = path
        argv = list(getattr(sys, "orig_argv", sys.argv))
        os.execv(sys.executable, [sys.executable, *argv[1:]])

    def _carry_over(self) -> None:
        path = os.environ.pop(_STATE, None)
        if not path:
            return
        try:
            with open(path, encoding="utf-8") as file:
                state = json.load(file)
            os.unlink(path)
        except (OSError, ValueError):
            return
        nodeids = {i.nodeid for i in self.items}
        self.outcomes.update({n: o for n, o in state["outcomes"].items() if n in nodeids})
        for nodeid, keys in state["tests"].items():
            if nodeid in nodeids:
                self.record.update(nodeid, frozenset((k[0], k[1]) for k in keys))
        for key, names in state["names"]:
            self.recorder.names.setdefault((key[0], key[1]), frozenset(names))
        self.carried = state


def _under(node: object, ancestor: pytest.Module) -> bool:
    chain = getattr(node, "listchain", None)
    return node is ancestor or (chain is not None and ancestor in chain())


def _fixtures_under(manager: Any, module: pytest.Module) -> list[FixtureDef[Any]]:
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


def _forget_fixtures(manager: Any, module: pytest.Module, stale: list[FixtureDef[Any]]) -> None:
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


def _module_path(item: pytest.Item) -> str:
    return os.path.realpath(str(item.path))


def _module_reads(text: str) -> set[str]:
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


def _short(path: str) -> str:
    from ..core._table import short_path

    return short_path(path)


def _describe(path: str, change: _changes.Change, events: list[ReloadEvent]) -> str:
    versions = {
        e.entry.qualname: e.version
        for e in events
        if e.entry is not None and e.action == "swapped" and os.path.realpath(e.file) == path
    }
    parts = [f"{q} v{versions[q]}" if q in versions else q for q in sorted(change.qualnames)]
    parts += sorted(change.names - set(change.qualnames))
    listed = ", ".join(parts[:5]) + (f" and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"{_short(path)}: {listed}"


def _tests(count: int) -> str:
    return f"{count} test{'s' if count != 1 else ''}"


class _Keys:
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
