"""The record kept across sessions: a new session runs what changed since the last one.

After each run, the loop writes to pytest's cache folder what each test ran, the
names that code reads, each test's outcome and the text of each file of the
session.  The next ``--hot`` session compares the files on disk with those
texts, as a save would be compared, and runs at start only the tests the
changes reach, the tests that failed, and the tests it had never run.  The
tests it does not run keep their record, so the saves that follow select
them as if they had run.

The record is kept per Python version (code, and what it reads, differ
between versions).  It holds only for the setup that made it: a session
under another interpreter build, pytest, plugin set, options or pytest
settings, or with a ``conftest.py`` changed since, says why in one line and
runs every test, as does ``--hot-all``.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import json
import os
import shlex
import sys
import tomllib
from collections import Counter
from pathlib import Path

from . import _changes
from ._record import SPAWNS, Key
from ._session import FAILED, is_test_file, short, tests_phrase

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pytest

    from ._loop import Loop

#: Bumped when what is stored changes meaning.
FORMAT = 2


class Untrusted(Exception):
    """The last session's record does not hold for this one; the message says why."""


def _path(cache: Any, minor: int = sys.version_info[1]) -> Path:
    """The record's file for Python 3.``minor`` in pytest's cache folder."""
    folder: Path = cache.mkdir("hotfunc")
    return folder / f"record-3.{minor}.json"


def _read(path: Path) -> Any:
    """The record in ``path``; None when there is none.  Raises OSError, ValueError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


# Options that choose what is shown or which tests run, not what a test does:
# the record holds across them (a test it has no outcome for runs as new).
_SHOWN_OR_PICKED = frozenset(
    {"-v", "--verbose", "-q", "--quiet", "-s", "-x", "--exitfirst", "-l", "--showlocals"}
    | {"--lf", "--last-failed", "--ff", "--failed-first", "--nf", "--new-first"}
    | {"--sw", "--stepwise", "--stepwise-skip", "--no-header", "--no-summary", "--pdb"}
    | {"--trace", "--cache-clear"}
)
# The same, with a value of their own (``-k expr`` or ``-k=expr``).
_SHOWN_OR_PICKED_WITH_VALUE = frozenset(
    {"-k", "-m", "-r", "--tb", "--deselect", "--maxfail", "--durations", "--color"}
    | {"--capture", "--durations-min", "--code-highlight"}
)


def _options(config: pytest.Config) -> list[str]:
    """The options of the command line and ``PYTEST_ADDOPTS`` a test's outcome may
    depend on, in their order."""
    given = set(config.option.file_or_dir or ())
    words = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *config.invocation_params.args]
    kept: list[str] = []
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
            continue
        name = word.partition("=")[0]
        if word in given or word.startswith("--hot") or word in _SHOWN_OR_PICKED:
            continue
        if name in _SHOWN_OR_PICKED_WITH_VALUE or word[:2] in _SHOWN_OR_PICKED_WITH_VALUE:
            skip_value = word in _SHOWN_OR_PICKED_WITH_VALUE  # the value is the next word
            continue
        if len(word) > 1 and word[0] == "-" and set(word[1:]) <= set("vqsxl"):
            continue  # -vv, -qx
        kept.append(word)
    return kept


def _settings(config: pytest.Config) -> str:
    """pytest's settings in its configuration file, as text to compare."""
    path = config.inipath
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            tool = tomllib.loads(text).get("tool", {})
            return json.dumps(tool.get("pytest", {}), sort_keys=True, default=str)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text)
        for section in ("pytest", "tool:pytest"):
            if parser.has_section(section):
                return json.dumps(dict(parser[section]), sort_keys=True)
        return ""
    except (OSError, ValueError, configparser.Error) as exc:
        return f"unreadable: {exc}"


def setup(config: pytest.Config) -> dict[str, Any]:
    """What a record holds only under: the interpreter, pytest, its plugins and options."""
    import pytest

    python = sys.version.split()[0] + getattr(sys, "abiflags", "")
    if sys.implementation.name != "cpython":
        python = f"{sys.implementation.name} {python}"
    plugins = {
        f"{dist.project_name} {dist.version}"
        for _, dist in config.pluginmanager.list_plugin_distinfo()
    }
    return {
        "python": python,
        "pytest": pytest.__version__,
        "hotfunc": _version(),
        "plugins": sorted(plugins),
        "options": _options(config),
        "settings": _settings(config),
    }


def distrust(stored: Any, now: dict[str, Any], config: pytest.Config) -> str:
    """Why a record made under the ``stored`` setup does not hold under ``now``, if so."""
    if not isinstance(stored, dict):
        return "it was made by another version of hotfunc"
    for field, what in (("python", "Python"), ("pytest", "pytest"), ("hotfunc", "hotfunc")):
        if stored.get(field) != now[field]:
            return f"it was made under {what} {stored.get(field)}, this is {now[field]}"
    before, after = set(stored.get("plugins", ())), set(now["plugins"])
    if before != after:
        changes = [f"{p} added" for p in sorted(after - before)]
        changes += [f"{p} gone" for p in sorted(before - after)]
        return f"the pytest plugins changed: {', '.join(changes)}"
    if stored.get("options") != now["options"]:
        old = shlex.join(stored.get("options") or ()) or "none"
        return f"the options changed: {old} then, {shlex.join(now['options']) or 'none'} now"
    if stored.get("settings") != now["settings"]:
        return f"pytest's settings in {short(str(config.inipath))} changed"
    return ""


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
        "setup": loop.setup,
        "tests": tests,
        "names": names,
        "outcomes": dict(loop.outcomes),
        "texts": dict(loop.texts),
    }
    # Written whole or not at all: a session killed as it writes leaves the last record.
    part: Path | None = None
    try:
        path = _path(cache)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps(data), encoding="utf-8")
        os.replace(part, path)
    except Exception as exc:  # a read-only tree: the next session runs every test
        loop._say(f"cannot keep the record for the next session: {exc}", warn=True)
        if part is not None:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)


def since_last(loop: Loop) -> tuple[list[pytest.Item], str] | None:
    """The tests to run first, and why, from the last session's record; None to run all.

    Loads the record into the loop, so that saves select the tests it did
    not run too.
    """
    cache = getattr(loop.config, "cache", None)
    if cache is None:
        return None
    try:
        data = _read(_path(cache))
        if data is None:
            other = _other_python(cache)
            if other:
                loop._say(
                    f"no record of a session under Python 3.{sys.version_info[1]} "
                    f"(Python {other}'s is kept apart): running every test"
                )
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise Untrusted("it was made by another version of hotfunc")
        reason = distrust(data.get("setup"), loop.setup, loop.config)
        if reason:
            raise Untrusted(reason)
        return _select(loop, data)
    except Untrusted as exc:
        loop._say(f"the last session's record is not used: {exc}; running every test")
    except Exception as exc:  # a record damaged by hand: start from scratch
        loop._say(f"the last session's record cannot be read ({exc!r}); running every test")
    return None


def _other_python(cache: Any) -> str:
    """The Python version of another interpreter's record in the cache, if any."""
    for minor in range(8, 20):
        if minor != sys.version_info[1] and _path(cache, minor).exists():
            return f"3.{minor}"
    return ""


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
        except (OSError, UnicodeDecodeError) as exc:
            raise Untrusted(f"{short(path)} cannot be read ({exc})") from None
        if new == old:
            continue
        if os.path.basename(path) == "conftest.py":
            # Its fixtures and hooks were read at the start of another session.
            raise Untrusted(f"{short(path)} changed since")
        test_module = path in loop.modules or is_test_file(loop.config, path)
        try:
            change = _changes.compare(old, new, path)
        except SyntaxError as exc:
            if test_module:
                whole_modules.add(path)
                what.append(f"{short(path)} changed")
                continue
            # The session's own import shows the error.
            raise Untrusted(f"{short(path)}:{exc.lineno}: {exc.msg}") from None
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
    ran = {i.nodeid for i in run}
    carried = Counter(o for n, o in loop.outcomes.items() if n in current and n not in ran)
    if carried:
        kinds = ", ".join(f"{count} {outcome}" for outcome, count in carried.most_common())
        line += f"; {sum(carried.values())} carried over ({kinds})"
    return run, line


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hotfunc")
    except PackageNotFoundError:
        return "unknown"
