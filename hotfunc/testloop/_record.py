"""Which code each test ran: the record the test loop picks tests by.

A test's record is the set of functions of the project it ran, as keys
``(filename, qualname)``: a key outlives the code object a save replaces.
On 3.12 and later, ``sys.monitoring`` reports the first start of each code
object per test, and nothing more until the next test.  On 3.11, the
project's code carries probes (``_probes``) that note, in C, each start.
Only the thread that runs the test is recorded, on every version:
``sys.monitoring`` reports every thread, and a library's background
thread (a heartbeat, a pool's worker) would put its code in every test.

Either way recording is on only in the windows where the project's code
runs: the test function's call, a fixture's function, the teardown of a
test that uses the project's fixtures.  pytest's own machinery around them
runs hundreds of calls per test, and recording those would cost more than
the test itself.
"""

from __future__ import annotations

import contextlib
import sys
from _thread import get_ident
from collections.abc import Callable, Iterable
from types import CodeType, ModuleType
from typing import Any

from ._changes import inlined, key_name, reads
from ._probes import Probes

#: A function of the project: its file and qualified name.
Key = tuple[str, str]

#: The key of a test that started a process, which may run any of the project's code.
SPAWNS: Key = ("<process>", "")


def _spawning() -> list[CodeType]:
    """The code that starts a child process."""
    import multiprocessing.process
    import subprocess

    starts: list[Any] = [multiprocessing.process.BaseProcess.start]
    execute = getattr(subprocess.Popen, "_execute_child", None)
    if execute is not None:
        starts.append(execute)
    return [f.__code__ for f in starts]


_MONITORING = sys.version_info >= (3, 12)
# Tool ids sys.monitoring leaves to tools like this one, the debugger's,
# coverage's and the profiler's set aside.
_TOOL_IDS = (4, 3, 5)


class Recorder:
    """Records the project code that runs between :meth:`begin` and :meth:`end`.

    ``wanted`` says whether a file is the project's; code elsewhere (the
    standard library, installed packages, pytest) is not recorded.
    """

    def __init__(self, wanted: Callable[[str], bool]) -> None:
        self._wanted = wanted
        self._current: dict[int, CodeType] | None = None
        self._outer: list[dict[int, CodeType]] = []
        # id of each code object seen → (it, its key or None): the code is
        # kept alive, so an id is never reused for another.
        self._keys: dict[int, tuple[CodeType, Key | None]] = {}
        #: The names each key's latest code reads (globals and attributes).
        self.names: dict[Key, frozenset[str]] = {}
        spawning = _spawning()
        self._spawning = frozenset(map(id, spawning))
        self._probes: Probes | None = None if _MONITORING else Probes(wanted, spawning)
        self._tool: int | None = None
        self._finder: int | None = None
        self._muted: list[CodeType] = []
        self._depth = 0
        self._thread = 0
        self.available = False
        self.why_not = ""

    def install(self) -> None:
        """Start recording, or set ``why_not`` when another tool holds the hooks."""
        if _MONITORING:
            monitoring = _monitoring()
            free = [tool for tool in _TOOL_IDS if monitoring.get_tool(tool) is None]
            if len(free) < 2:
                ids = ", ".join(map(str, _TOOL_IDS))
                self.why_not = f"fewer than two of the sys.monitoring tool ids {ids} are free"
                return
            self._finder, self._tool = free[:2]
            start = monitoring.events.PY_START
            monitoring.use_tool_id(self._finder, "hotfunc (finding the project's code)")
            monitoring.register_callback(self._finder, start, self._found)
            monitoring.use_tool_id(self._tool, "hotfunc (recording tests)")
            monitoring.register_callback(self._tool, start, self._started)
            monitoring.set_events(self._finder, start)
            self.available = True
            return
        if self._probes is not None:
            self._probes.on()
        self.available = True

    def uninstall(self) -> None:
        if self._tool is not None and self._finder is not None:
            monitoring = _monitoring()
            for tool in (self._finder, self._tool):
                monitoring.set_events(tool, 0)
                monitoring.register_callback(tool, monitoring.events.PY_START, None)
                monitoring.free_tool_id(tool)
            self._tool = self._finder = None
        if self._probes is not None and self.available:
            self._probes.off()
        self.available = False

    def lifted(self) -> contextlib.AbstractContextManager[None]:
        """A block where the project's functions have their own code (the engine's save)."""
        if self._probes is None or not self.available:
            return contextlib.nullcontext()
        return self._probes.lifted()

    def imported(self, module: ModuleType) -> None:
        """A module of the project imported while tests run: its code is recorded too."""
        if self._probes is not None and self.available:
            self._probes.walk(module)

    # -- 3.12+: two tools.  The finder sees each code object start once, ever,
    # and gives the project's code the recorder's local events; the rest of
    # the process (pytest, the libraries) never costs anything again.  The
    # recorder mutes a code object once it ran twice in a test, and the next
    # test unmutes it: no restart_events(), which would wake all the code.

    def _found(self, code: CodeType, offset: int) -> object:
        if id(code) in self._spawning or self._wanted(code.co_filename):
            if self._tool is not None:
                _monitoring().set_local_events(self._tool, code, _monitoring().events.PY_START)
            self._started(code, offset)  # this start came before the recorder's events
        return _DISABLE

    def _started(self, code: CodeType, offset: int) -> object:
        current = self._current
        if current is None or not self._depth or get_ident() != self._thread:
            return None
        if id(code) not in current:
            current[id(code)] = code
        elif self._tool is not None:
            _monitoring().set_local_events(self._tool, code, 0)
            self._muted.append(code)
        return None

    def _unmute(self) -> None:
        if self._muted and self._tool is not None:
            monitoring = _monitoring()
            for code in self._muted:
                monitoring.set_local_events(self._tool, code, monitoring.events.PY_START)
            self._muted.clear()

    # -- 3.11: the probes note each start in the thread's dict; a window's
    # notes are taken as it closes.

    def _take(self) -> None:
        if self._probes is not None and self._current is not None and self._depth:
            current = self._current
            for code in self._probes.take():
                current[id(code)] = code

    def begin(self) -> None:
        """Record afresh, until :meth:`end`, in the windows :meth:`resume` opens."""
        if not self.available:
            return
        self._current = {}
        self._outer.clear()
        self._depth = 0
        self._thread = get_ident()
        # Code that ran in an earlier test must count for this one too.
        self._unmute()

    def resume(self) -> None:
        """Open a recording window; windows nest, until as many :meth:`pause` calls."""
        if not self.available or self._current is None:
            return
        self._depth += 1
        if self._depth == 1:
            self._switch(True)

    def pause(self) -> None:
        """Close the window :meth:`resume` opened."""
        if self._depth == 0:
            return
        if self._depth == 1:
            self._switch(False)
        self._depth -= 1

    def _switch(self, on: bool) -> None:
        if self._probes is not None:
            if on:
                self._probes.clear()
            else:
                self._take()

    def push(self) -> None:
        """Record a part of the current record on its own (a fixture's set-up)."""
        if self._current is None:
            return
        self._take()
        self._outer.append(self._current)
        self._current = {}
        # Code that ran earlier in this test must count for this part too.
        self._unmute()

    def pop(self) -> frozenset[Key]:
        """The keys since :meth:`push`; they count for the enclosing record too."""
        if self._current is None or not self._outer:
            return frozenset()
        self._take()
        part = self._current
        self._current = self._outer.pop()
        self._current.update(part)
        return self._to_keys(part.values())

    def end(self) -> frozenset[Key]:
        """The keys since :meth:`begin`; recording stops."""
        current = self._current
        if self._depth:
            self._switch(False)
            self._depth = 0
        self._current = None
        if current is None:
            return frozenset()
        for outer in self._outer:
            current.update(outer)
        self._outer.clear()
        return self._to_keys(current.values())

    def _to_keys(self, codes: Iterable[CodeType]) -> frozenset[Key]:
        keys: set[Key] = set()
        known = self._keys
        for code in codes:
            seen = known.get(id(code))
            if seen is None or seen[0] is not code:
                key: Key | None = None
                if id(code) in self._spawning:
                    key = SPAWNS
                elif self._wanted(code.co_filename):
                    key = (code.co_filename, key_name(code.co_qualname))
                    if not inlined(code):  # the parent's names hold a comprehension's
                        self.names[key] = reads(code)
                seen = known[id(code)] = (code, key)
            if seen[1] is not None:
                keys.add(seen[1])
        return frozenset(keys)


def _monitoring() -> Any:
    """``sys.monitoring``, which 3.11 has not."""
    return getattr(sys, "monitoring")  # noqa: B009


_DISABLE: object = _monitoring().DISABLE if _MONITORING else None


class Record:
    """Each test's keys, and the tests each key and each name reach."""

    def __init__(self) -> None:
        self.tests: dict[str, frozenset[Key]] = {}
        self._by_key: dict[Key, set[str]] = {}
        self._by_file: dict[str, set[Key]] = {}

    def update(self, nodeid: str, keys: frozenset[Key]) -> None:
        self.forget(nodeid)
        self.tests[nodeid] = keys
        for key in keys:
            self._by_key.setdefault(key, set()).add(nodeid)
            self._by_file.setdefault(key[0], set()).add(key)

    def forget(self, nodeid: str) -> None:
        for key in self.tests.pop(nodeid, ()):
            tests = self._by_key.get(key)
            if tests is not None:
                tests.discard(nodeid)

    def keys_in(self, filename: str, qualnames: Iterable[str]) -> set[Key]:
        """Recorded keys of ``filename`` that are, or are nested in, one of ``qualnames``."""
        wanted = tuple(qualnames)
        prefixes = tuple(q + "." for q in wanted)
        return {
            key
            for key in self._by_file.get(filename, ())
            if key[1] in wanted or key[1].startswith(prefixes)
        }

    def keys_reading(self, names: set[str], readers: dict[Key, frozenset[str]]) -> set[Key]:
        """Recorded keys whose code reads one of ``names``."""
        if not names:
            return set()
        return {key for key in self._by_key if not names.isdisjoint(readers.get(key, ()))}

    def tests_of(self, keys: Iterable[Key]) -> set[str]:
        tests: set[str] = set()
        for key in keys:
            tests |= self._by_key.get(key, set())
        return tests
