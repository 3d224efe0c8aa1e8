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
import logging
import os
import queue
import sys
import time
from collections.abc import Generator
from types import ModuleType

import pytest

from .. import _state
from . import _changes, _fresh, _saves, _session, _stored
from ._record import Key, Record, Recorder
from ._session import (
    FAILED,
    Keep,
    Keys,
    LoopWatcher,
    Notes,
    Project,
    is_test_file,
    module_reads,
    outcome_of,
    tests_phrase,
)

#: Seconds of quiet, with the watcher idle, that end a change made of several batches.
SETTLE = 0.05

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from _pytest.fixtures import FixtureDef, SubRequest

logger = logging.getLogger("hotfunc")

#: Whether stdin was a terminal when pytest started (read before its capture).
keys_from_terminal = False


class Loop:
    """The plugin object of a ``--hot`` session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.project = Project(str(config.rootpath))
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
        self.notes = Notes()
        self.watcher: LoopWatcher | None = None
        self.carried: dict[str, Any] | None = None
        # What the record this session keeps holds under, as it started.
        self.setup = _stored.setup(config)
        self._terminal: Any = None

    # -- recording, as pytest runs each test

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self.outcomes.pop(item.nodeid, None)
        # A test run again would show the output captured in its earlier runs too.
        item._report_sections = []
        module = getattr(item, "module", None)
        if isinstance(module, ModuleType):
            self.recorder.imported(module)
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
            if os.path.basename(filename) == "conftest.py" or not is_test_file(
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
                self.module_reads[path] = module_reads(text)

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
        _fresh.carry_over(self)
        hotfunc_logger = logging.getLogger("hotfunc")
        level = hotfunc_logger.level
        hotfunc_logger.addFilter(self.notes)
        hotfunc_logger.setLevel(logging.INFO)
        self.recorder.install()
        if _session.hot_imports is not None:
            _session.hot_imports.after = self.recorder.imported
        if not self.recorder.available:
            self._say(
                f"cannot record which code each test runs: {self.recorder.why_not}; "
                "each save runs every test",
                warn=True,
            )
        keys = Keys(self.inbox) if keys_from_terminal else None
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
            if _session.hot_imports is not None:
                _session.hot_imports.after = None
            self.recorder.uninstall()
            hotfunc_logger.removeFilter(self.notes)
            hotfunc_logger.setLevel(level)
            self._teardown(None)
        failing = sum(1 for o in self.outcomes.values() if o in FAILED)
        session.testsfailed = failing
        # The last run's report was shown: pytest's closing summary gives its line only.
        self.config.option.no_summary = True
        return True

    def _start_watcher(self) -> None:
        # Not the process's watcher (_state.watcher): the tests may start
        # and stop that one, when the project is one that uses hotfunc.
        watcher = LoopWatcher(self.inbox, _state.settings.polling, self.recorder.lifted)
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

    def _loop(self, keys: Keys | None) -> None:
        first = self.items
        why = ""
        if self.carried is not None:
            # New tests (a new test file, or one saved with the save) run too.
            known = set(self.carried["outcomes"]) | set(self.carried["tests"])
            wanted = set(self.carried["run"]) | self._failed()
            first = [i for i in self.items if i.nodeid in wanted or i.nodeid not in known]
            why = f"hotfunc: started afresh: {self.carried['why']} → {tests_phrase(len(first))}"
        elif (
            self.recorder.available
            and not self.config.option.hot_all
            and (chosen := _stored.since_last(self)) is not None
        ):
            first, why = chosen
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
                _saves.saved(self, [what, *self._settle()])

    def _settle(self) -> list[Any]:
        """The batches that follow a save until the watcher has been idle for ``SETTLE``.

        A checkout, a rebase or an editor's "save all" writes many files; the
        watcher applies them as they come, in several batches.  One run for
        all of them gives the selection the whole change makes, whatever the
        timing, and runs no test twice.
        """
        batches: list[Any] = []
        while True:
            try:
                kind, what = self.inbox.get(timeout=SETTLE)
            except queue.Empty:
                watcher = self.watcher
                if watcher is None or watcher.idle.is_set():
                    return batches
                # A batch is being applied: its save is told before it ends.
                watcher.idle.wait(1)
                continue
            if kind != "save":
                self.inbox.put((kind, what))
                return batches
            batches.append(what)

    # -- what a save changed

    # -- running

    def _failed(self) -> set[str]:
        nodeids = {i.nodeid for i in self.items}
        return {n for n, o in self.outcomes.items() if o in FAILED and n in nodeids}

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
                nextitem: Any = items[n + 1] if n + 1 < len(items) else Keep(item)
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
        if self.recorder.available:
            _stored.store(self)

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
