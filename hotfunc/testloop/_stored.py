"""The record kept across sessions: a new session runs what changed since the last one.

After each run, the loop writes to pytest's cache what each test ran, the
names that code reads, each test's outcome and the text of each file of the
session.  The next ``--hot`` session compares the files on disk with those
texts, as a save would be compared, and runs at start only the tests the
changes reach, the tests that failed, and the tests it had never run.  The
tests it does not run keep their record, so the saves that follow select
them as if they had run.

The record is kept per Python version (code, and what it reads, differ
between versions), and a session that cannot vouch for it (no cache, a
record from another version of hotfunc, a changed ``conftest.py``) runs
every test.
"""

from __future__ import annotations

import functools
import os
import sys

from . import _changes
from ._record import SPAWNS, Key
from ._session import FAILED, is_test_file, short, tests_phrase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pytest

    from ._loop import Loop

#: Bumped when what is stored changes meaning.
FORMAT = 1


def _cache_key() -> str:
    return f"hotfunc/record-{sys.version_info[0]}.{sys.version_info[1]}"


def store(loop: Loop) -> None:
    """Write the session's record, for the next session."""
    cache = getattr(loop.config, "cache", None)
    if cache is None:
        return
    names: dict[str, list[str]] = {}
    tests: dict[str, list[list[str]]] = {}
    for nodeid, keys in loop.record.tests.items():
        tests[nodeid] = [list(key) for key in keys]
        for key in keys:
            read = loop.recorder.names.get(key)
            if read:
                names["\0".join(key)] = sorted(read)
    data = {
        "format": FORMAT,
        "hotfunc": _version(),
        "tests": tests,
        "names": names,
        "outcomes": dict(loop.outcomes),
        "texts": dict(loop.texts),
    }
    try:
        cache.set(_cache_key(), data)
    except Exception as exc:  # a read-only tree: the next session runs every test
        loop._say(f"cannot keep the record for the next session: {exc}", warn=True)


def since_last(loop: Loop) -> tuple[list[pytest.Item], str] | None:
    """The tests to run first, and why, from the last session's record; None to run all.

    Loads the record into the loop, so that saves select the tests it did
    not run too.
    """
    cache = getattr(loop.config, "cache", None)
    data: Any = cache.get(_cache_key(), None) if cache is not None else None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if data.get("hotfunc") != _version():
        return None
    try:
        return _select(loop, data)
    except Exception as exc:  # a record damaged by hand: start from scratch
        loop._say(f"the last session's record cannot be read ({exc!r}); running every test")
        return None


def _select(loop: Loop, data: dict[str, Any]) -> tuple[list[pytest.Item], str] | None:
    texts: dict[str, str] = data["texts"]
    what: list[str] = []
    changed_names: set[str] = set()
    changed_keys: set[Key] = set()
    whole_modules: set[str] = set()
    sources_changed = False
    readers: dict[Key, frozenset[str]] = {}
    for joined, read in data["names"].items():
        filename, _, qualname = joined.partition("\0")
        readers[filename, qualname] = frozenset(read)
    current = {item.nodeid for item in loop.items}
    stored: dict[str, frozenset[Key]] = {
        nodeid: frozenset((str(k[0]), str(k[1])) for k in keys)
        for nodeid, keys in data["tests"].items()
        if nodeid in current
    }
    for nodeid, keys in stored.items():
        loop.record.update(nodeid, keys)
    for key, read in readers.items():
        loop.recorder.names.setdefault(key, read)
    for path, old in texts.items():
        try:
            with open(path, encoding="utf-8") as file:
                new = file.read()
        except FileNotFoundError:
            new = ""
        except (OSError, UnicodeDecodeError):
            return None
        if new == old:
            continue
        if os.path.basename(path) == "conftest.py":
            return None  # its fixtures and hooks were read at start, by another session
        test_module = path in loop.modules or is_test_file(loop.config, path)
        try:
            change = _changes.compare(old, new, path)
        except SyntaxError:
            if test_module:
                whole_modules.add(path)
                what.append(f"{short(path)} changed")
                continue
            return None  # the session's own import shows the error; run it all
        if not change:
            continue
        what.append(f"{short(path)} changed")
        if test_module:
            whole_modules.add(path)
        else:
            sources_changed = True
        changed_keys |= loop.record.keys_in(path, change.qualnames)
        changed_names |= change.names
    changed_keys |= loop.record.keys_reading(changed_names, loop.recorder.names)
    if sources_changed:
        changed_keys.add(SPAWNS)
    for path, reads in loop.module_reads.items():
        if not changed_names.isdisjoint(reads):
            whole_modules.add(os.path.realpath(path))
    affected = loop.record.tests_of(changed_keys)
    failed = {n for n, o in data["outcomes"].items() if o in FAILED}
    for nodeid, outcome in data["outcomes"].items():
        if nodeid in current:
            loop.outcomes.setdefault(nodeid, outcome)
    new_tests: set[str] = set()
    run: list[pytest.Item] = []
    for item in loop.items:
        path = os.path.realpath(str(item.path))
        if item.nodeid not in stored:
            new_tests.add(item.nodeid)
        if (
            item.nodeid in affected
            or item.nodeid in failed
            or item.nodeid not in stored
            or path in whole_modules
        ):
            run.append(item)
    counts = []
    if affected:
        counts.append(f"{len(affected & {i.nodeid for i in run})} affected")
    if failed & {i.nodeid for i in run}:
        counts.append(f"{len(failed & {i.nodeid for i in run})} failed last time")
    if new_tests:
        counts.append(f"{len(new_tests)} new")
    since = "; ".join(what) if what else "nothing changed"
    run_what = tests_phrase(len(run)) if run else "no test to run"
    line = f"hotfunc: since the last session: {since} → {run_what}"
    if counts:
        line += f" ({', '.join(counts)})"
    return run, line


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hotfunc")
    except PackageNotFoundError:
        return "unknown"
