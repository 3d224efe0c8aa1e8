"""What a batch of saves means for the session: the tests to run, the fixtures to set
up again, the test modules to collect again, or a fresh process when it cannot be
vouched for.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

from .. import _state
from ..core._entry import ReloadEvent
from . import _changes, _fresh
from ._record import SPAWNS, Key
from ._session import (
    UNVOUCHED,
    Keep,
    describe,
    fixtures_under,
    forget_fixtures,
    is_test_file,
    module_path,
    module_reads,
    short,
    tests_phrase,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from _pytest.fixtures import FixtureDef

    from ._loop import Loop


def saved(loop: Loop, batch: list[tuple[set[str], list[ReloadEvent]]]) -> None:
    paths: set[str] = set()
    events: list[ReloadEvent] = []
    for changed, applied in batch:
        paths |= changed
        events += applied
    unvouched: list[str] = []
    said: set[str] = set()
    for record in loop.notes.take():
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            loop._say(message, warn=True)
            said.add(message)
        if any(phrase in message for phrase in UNVOUCHED):
            unvouched.append(message)
    unvouched += [e.error for e in events if e.action == "stale" and e.error]
    failed = [e for e in events if not e.ok and e.action != "stale"]
    # The engine says a failure once; a save that fails again for it says why too.
    for error in dict.fromkeys(e.error for e in failed if e.error and e.error not in said):
        loop._say(error, warn=True)
    failed_files = {os.path.realpath(e.file) for e in failed if e.file}
    keys: set[Key] = set()
    names: set[str] = set()
    what: list[str] = []
    recollect: set[str] = set()
    deleted: set[str] = set()
    new_files: set[str] = set()
    sources_changed = False
    for path in sorted(p for p in paths if p.endswith(".py")):
        real = os.path.realpath(path)
        is_test_module = real in loop.modules or (
            is_test_file(loop.config, real) and os.path.basename(real) != "conftest.py"
        )
        old = loop.texts.get(real)
        if old is None and not is_test_module:
            continue  # not a file of the session
        try:
            with open(real, encoding="utf-8") as file:
                new = file.read()
        except FileNotFoundError:
            if is_test_module and real in loop.modules:
                deleted.add(real)
                what.append(f"{short(real)} deleted")
            continue
        except (OSError, UnicodeDecodeError):
            continue
        if real in failed_files and not taken(real, new):
            continue  # a file the engine did not take: its last good text stays the one
        if old is None:
            unvouched.append(f"{short(real)}: a new test file")
            new_files.add(real)
            continue
        if new == old:
            continue
        last = loop.snapshots.get(real)
        try:
            after = _changes.Snapshot(new, real)
            change = _changes.compare(
                last if last is not None and last.text == old else old, after, real
            )
        except SyntaxError as exc:
            if is_test_module:
                recollect.add(real)  # the collection error is the report
                what.append(f"{short(real)}:{exc.lineno}: {exc.msg}")
            continue
        loop.texts[real] = new
        loop.snapshots[real] = after
        if is_test_module:
            recollect.add(real)
            loop.module_reads[real] = module_reads(new)
        elif change:
            sources_changed = True
            reason = not_in_place(loop, real, change)
            if reason:
                unvouched.append(reason)
        if change:
            keys |= loop.record.keys_in(real, change.qualnames)
            names |= change.names
            what.append(describe(real, change, events))
    keys |= loop.record.keys_reading(names, loop.recorder.names)
    if sources_changed:
        keys.add(SPAWNS)  # a child process may run any of the project's code
    # Test modules that read a changed name at import (a constant, a
    # parametrize list) are imported again, and all their tests run.
    reaching = {
        path
        for path, reads in loop.module_reads.items()
        if path not in recollect and not names.isdisjoint(reads)
    }
    recollect |= reaching
    affected = loop.record.tests_of(keys)
    if not loop.recorder.available and sources_changed:
        affected = {i.nodeid for i in loop.items}
    fixtures = [fd for fd, fkeys in loop.fixture_keys.items() if not fkeys.isdisjoint(keys)]
    for fixturedef in fixtures:
        affected |= users_of(loop, fixturedef)
    if unvouched and not failed:
        # The new process collects every test module, and runs the new tests.
        whole = {i.nodeid for i in loop.items if module_path(i) in reaching}
        _fresh.restart(loop, affected | whole, "; ".join(unvouched))
        return
    if failed:
        # The fresh process imports the saved test modules anyway: the loop
        # collects them after it, not before.
        rerun = affected | loop._failed()
        reported = run_failed(loop, rerun, recollect | deleted, reaching, new_files)
    added = collect_saved(loop, recollect, deleted, reaching)
    if failed:
        # A test the fresh run did not report (its module did not import) failed.
        for nodeid in (rerun | added) & {i.nodeid for i in loop.items} - reported.keys():
            loop.outcomes[nodeid] = "error"
        return
    for fixturedef in fixtures:
        finish(loop, fixturedef)
    if not what:
        return  # the files are as they were (the watcher's first look, a touch)
    failed_before = loop._failed()
    run = affected | added | failed_before
    items = [i for i in loop.items if i.nodeid in run]
    counts = []
    if affected or added:
        counts.append(f"{len((affected | added) & {i.nodeid for i in items})} affected")
    if failed_before - affected - added:
        counts.append(f"{len(failed_before - affected - added)} failed last time")
    run_what = tests_phrase(len(items)) if items else "no test to run"
    line = f"hotfunc: {'; '.join(what)} → {run_what}"
    if counts:
        line += f" ({', '.join(counts)})"
    if not items:
        loop._say(line)
        return
    loop._run(items, line)


def run_failed(
    loop: Loop, run: set[str], saved: set[str], reaching: set[str], new_files: set[str]
) -> dict[str, str]:
    """Run ``run`` in a fresh process, with the tests of the ``saved`` test modules
    that are new, changed or reached by the save (all of a ``reaching`` module's): the
    outcomes it reported."""
    where = {i.nodeid: module_path(i) for i in loop.items}
    nodeids = {n for n in run if n in where and where[n] not in saved}
    files = {p for p in saved if os.path.exists(p)} | new_files
    skip = {n for n, p in where.items() if p in saved and p not in reaching and n not in run}
    return _fresh.run_fresh(loop, nodeids, "the save failed", files=files, skip=skip)


def collect_saved(
    loop: Loop, recollect: set[str], deleted: set[str], reaching: set[str]
) -> set[str]:
    """Collect the saved test modules again and drop the deleted ones: the tests added
    (all of a ``reaching`` module's)."""
    added: set[str] = set()
    for path in sorted(recollect | deleted):
        before = {i.nodeid for i in loop.items if module_path(i) == path}
        if path in deleted:
            drop(loop, path)
        else:
            collect_again(loop, path)
        now = {i.nodeid for i in loop.items if module_path(i) == path}
        added |= now if path in reaching else now - before
        for gone in before - now:
            loop.record.forget(gone)
            loop.outcomes.pop(gone, None)
    # Only tests that still exist: a saved test module may have renamed some.
    return added & {i.nodeid for i in loop.items}


def taken(path: str, text: str) -> bool:
    """Whether the engine took ``text`` as the file's, though a part of it failed (a
    statement that raised, a function removed): not when it kept the last good text."""
    for source in _state.registry.sources_at(path, real=True):
        baseline = source.baseline
        if baseline is not None and baseline.text == text:
            return True
    return False


def not_in_place(loop: Loop, path: str, change: _changes.Change) -> str:
    """Why a changed file of the project was not brought to a fresh import's state, if so."""
    sources = _state.registry.sources_at(path)
    if not sources:
        return f"{short(path)} is not applied in place (it is not hot)"
    if os.path.basename(path) != "conftest.py" or not change.names:
        return ""
    # pytest read the fixtures and hooks of a conftest.py at its start.
    namespace = sources[0].namespace or {}
    for name in sorted(change.names):
        value = namespace.get(name)
        fixture = value is not None and type(value).__name__ == "FixtureFunctionDefinition"
        if fixture or name.startswith("pytest_") or is_fixture_name(loop, name):
            return f"{short(path)}: fixture or hook {name!r} added, removed or redefined"
    return ""


def is_fixture_name(loop: Loop, name: str) -> bool:
    manager = loop.session._fixturemanager
    known = getattr(manager, "_arg2node2fixturedefs", None)
    if known is None:
        known = getattr(manager, "_arg2fixturedefs", {})
    return name in known


def drop(loop: Loop, path: str) -> None:
    """A deleted test module: its tests go."""
    old = loop.modules.pop(path, None)
    if old is not None:
        loop._teardown(Keep(old))
    loop.items = [i for i in loop.items if module_path(i) != path]
    loop.session.items = loop.items
    loop.texts.pop(path, None)
    loop.snapshots.pop(path, None)
    loop.module_reads.pop(path, None)


def users_of(loop: Loop, fixturedef: FixtureDef[Any]) -> set[str]:
    base = fixturedef.baseid
    return {
        i.nodeid
        for i in loop.items
        if fixturedef.argname in getattr(i, "fixturenames", ())
        and (not base or i.nodeid.startswith(base))
    }


def finish(loop: Loop, fixturedef: FixtureDef[Any]) -> None:
    """Tear a fixture down (its dependents first); its next use sets it up anew."""
    request = loop.fixture_requests.pop(fixturedef, None)
    loop.fixture_keys.pop(fixturedef, None)
    if request is None or fixturedef.cached_result is None:
        return
    try:
        fixturedef.finish(request)
    except Exception as exc:
        loop._say(f"tearing down fixture {fixturedef.argname!r} raised {exc!r}", warn=True)


def collect_again(loop: Loop, path: str) -> None:
    """Import a saved test module afresh and put its new tests in place of the old."""
    old = loop.modules.get(path)
    if old is None:
        return
    session = loop.session
    loop._teardown(Keep(old))  # the old module's fixtures go with it
    name = getattr(old, "_obj", None)
    if isinstance(name, ModuleType):
        sys.modules.pop(name.__name__, None)
    stale = fixtures_under(session._fixturemanager, old)
    for fd in stale:
        finish(loop, fd)
    node = type(old).from_parent(old.parent, path=old.path)
    items = list(session.genitems(node))
    forget_fixtures(session._fixturemanager, old, stale)
    if items:
        loop.config.hook.pytest_collection_modifyitems(
            session=session, config=loop.config, items=items
        )
    loop.modules[path] = node
    positions = [n for n, i in enumerate(loop.items) if module_path(i) == path]
    at = positions[0] if positions else len(loop.items)
    kept = [i for i in loop.items if module_path(i) != path]
    loop.items = [*kept[:at], *items, *kept[at:]]
    session.items = loop.items
