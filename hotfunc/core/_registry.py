"""The registry: every hot function, by function object and by name, and its files.

The one instance lives in ``_state`` with the rest of the global state.
What the registry needs from the layers above (a watcher for a new file,
the watcher's state, the processes that follow) it asks of its ``host``,
which the API sets when it is imported.
"""

from __future__ import annotations

# ``import hotfunc`` runs at every boot of the application, so this module and
# everything it imports stay cheap: no typing, dataclasses, logging or
# threading module at run time (``_thread`` is built in).
import _thread
import os
import time
import weakref
from types import CodeType, FunctionType

from . import _files
from ._entry import Entry
from ._sourcefile import SourceFile
from ._table import format_table, rich_table
from ._wrappers import innermost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

#: Seconds after a file is first read before its bytes are compressed: by
#: then an application's imports are usually over.
COMPRESS_AFTER = 1.0


class Host:
    """What the registry asks of the layers above it, which set their own at import.

    This one, the registry's until then, stands for a process that watches nothing.
    """

    def file_added(self, source: SourceFile) -> None:
        """A file on disk has its first hot function: watch it."""

    def watcher_state(self) -> str:
        """How the watcher is, for the table."""
        return "never started (call hotfunc.start())"

    def followers(self) -> list[int]:
        """The pids of the live processes that follow this one."""
        return []

    def workers(self) -> list[tuple[str, int, list[str]]]:
        """The cluster workers that follow this process's saves."""
        return []


#: Entries built, or codes recorded, per hold of the lock.
_BATCH = 2048

#: So few functions chosen from a file's deferred ones are removed one by one.
_FEW = 16


def _let_others_in() -> None:
    """Between batches: a thread waiting for the lock gets the GIL and takes it.

    Without this, the lock is free only while this thread keeps the GIL, and
    it takes the lock again before anyone else can.
    """
    time.sleep(0)


def _key(code: CodeType) -> tuple[str, str, int]:
    return (code.co_filename, code.co_qualname, code.co_firstlineno)


class Registry:
    """Every hot function, by function object and by ``module.qualname``.

    ``len(registry)``, ``for entry in registry``, ``registry[func]`` and
    ``registry["app.handlers.get_user"]``; its repr is a table for the REPL.
    """

    def __init__(self) -> None:
        # Guards the tables.  Held only for short bookkeeping, never across
        # file I/O or the application's code: stop(), imports that register
        # functions and repr(registry) all need it.  Re-entrant, since the
        # methods call each other.
        self.lock = _thread.RLock()
        #: In a worker that applies another process's saves: the text of each
        #: file as that process saved it, by real path.  Read in place of the
        #: file on disk, which is the worker's own copy and does not change.
        self.shipped: dict[str, bytes] = {}
        self.host = Host()
        self._entries: list[Entry] = []
        self._entries_by_key: dict[tuple[str, str, int], Entry] = {}
        self._files_by_filename: dict[str, SourceFile] = {}
        #: The deferred-function list of each file on disk with no entry yet,
        #: by code file name: ``@hot`` appends to it and does nothing else.
        self.deferring: dict[str, list[FunctionType]] = {}
        # Files read at import whose bytes are still to be compressed, and
        # whether a thread is on its way to compress them.
        self._uncompressed: list[SourceFile] = []
        self._compressing = False

    # -- registration ---------------------------------------------------------

    def defer(self, func: FunctionType) -> bool:
        """Defer the entry of ``func``, a plain function, if that takes no more than
        a list append; return whether it was.  The fast path of ``@hot``."""
        code = func.__code__
        deferred = self.deferring.get(code.co_filename)
        if deferred is None or "<locals>" in code.co_qualname:
            return False  # add() decides
        deferred.append(func)
        return True

    def add(self, func: FunctionType, caches: tuple[object, ...] = ()) -> tuple[Entry, bool] | None:
        """Register ``func``; return its entry and whether it is new, or None if deferred.

        The entry of a function whose file is on disk and whose ``def`` has no
        entry yet is built later, on first need (see ``SourceFile.deferred``);
        importing a module of many hot functions costs a list append for
        each.  Nested functions (a factory's closures), functions with caches
        and functions without a source file get theirs now.  A file's first
        function reads the file (the text the live code came from) and has
        it watched.
        """
        code = func.__code__
        filename = code.co_filename
        source = self._files_by_filename.get(filename)
        if source is None:
            with self.lock:
                source = self._source_for(filename)
        if (
            source.path is not None
            and not caches
            # A nested function is made at run time, maybe in a loop: it
            # joins its entry at once, and a deferred list would only grow.
            and "<locals>" not in code.co_qualname
            # A definition with an entry already (decorated again, its module
            # imported again) joins it, and gets the code it has now.
            and not (source.entries and _key(code) in self._entries_by_key)
        ):
            source.deferred.append(func)
            if source.namespace is None:
                source.namespace = func.__globals__
            return None
        with self.lock:
            return self._add(func, _key(code), caches)

    def _add(
        self, func: FunctionType, key: tuple[str, str, int], caches: tuple[object, ...] = ()
    ) -> tuple[Entry, bool]:
        # Callers hold the lock.
        entry = self._entries_by_key.get(key)
        created = entry is None
        if entry is None:
            source = self._source_for(func.__code__.co_filename)
            entry = Entry(func, source)
            # A definition may now have an entry: add() decides for this file.
            self.deferring.pop(source.filename, None)
            if source.path is None:
                loader = func.__globals__.get("__loader__")
                entry.error = _files.no_source_reason(source.filename, loader)
            source.entries.append(entry)
            self._entries.append(entry)
            self._entries_by_key[key] = entry
            if source.namespace is None:
                source.namespace = func.__globals__
        else:
            entry.add(func)
        for cache in caches:
            entry.add_cache(cache)
        return entry, created

    def _source_for(self, filename: str) -> SourceFile:
        source = self._files_by_filename.get(filename)
        if source is None:
            path: str | None = None
            data: bytes | None = None
            if not (filename.startswith("<") and filename.endswith(">")):
                # The text as imported: later reloads compare against it.
                path, data = _files.read_as_imported(self.read_source, filename)
            source = SourceFile(filename, path, data)
            self._files_by_filename[filename] = source
            if path is not None:
                self.deferring[filename] = source.deferred
            if data is not None:
                self._uncompressed.append(source)
                if not self._compressing:
                    self._compressing = True
                    _thread.start_new_thread(self._compress_later, ())
            if path is not None:
                self.host.file_added(source)
        return source

    def _compress_later(self) -> None:
        """Compress the bytes read at import, once the imports are over.

        Runs on a thread of its own, started by the first file read; the
        application's boot goes on meanwhile, and zlib lets go of the GIL.
        """
        time.sleep(COMPRESS_AFTER)
        while True:
            with self.lock:
                todo, self._uncompressed = self._uncompressed, []
                if not todo:
                    self._compressing = False
                    return
            for source in todo:  # outside the lock: a large file takes a while
                source.compress()

    def after_fork(self) -> None:
        """In a forked child: the compressing thread is gone; locks may be held."""
        self._compressing = False
        for source in self._files_by_filename.values():
            source.lock._at_fork_reinit()  # type: ignore[attr-defined]  # CPython's RLock has it
            source.moving._at_fork_reinit()  # type: ignore[attr-defined]
        if self._uncompressed:
            self._compressing = True
            _thread.start_new_thread(self._compress_later, ())

    def register_module(self, source: SourceFile) -> None:
        """Make hot the functions of a module made hot whole, if not done yet."""
        with self.lock:
            register, source.register = source.register, None
        if register is not None and source.namespace is not None:
            register(source.namespace)  # defers its functions, as @hot does

    def build(self, source: SourceFile, chosen: list[FunctionType] | None = None) -> None:
        """Build the entries of ``source``'s deferred functions: ``chosen``, or all.

        Called without the lock held: it is taken for one batch at a time, so
        building a hundred thousand entries never holds up stop(), an import
        or the registry's repr for long.
        """
        self.register_module(source)
        with source.moving:
            if chosen is None:
                while source.deferred:
                    with self.lock:
                        batch = source.deferred[:_BATCH]
                        # Appends from other threads may land meanwhile; keep those.
                        del source.deferred[: len(batch)]
                        self._add_all(batch)
                    _let_others_in()
                return
            if not chosen:
                return
            with self.lock:
                # In place: @hot appends without the lock, and what it
                # appends meanwhile lands past the part replaced.
                deferred = source.deferred
                if len(chosen) <= _FEW:
                    for func in chosen:  # a scan in C each, from the start
                        deferred.remove(func)
                else:
                    ids = set(map(id, chosen))
                    seen = len(deferred)
                    deferred[:seen] = [f for f in deferred[:seen] if id(f) not in ids]
                self._add_all(chosen)

    def _add_all(self, funcs: list[FunctionType]) -> None:
        # Callers hold the lock.
        for func in funcs:
            self._add(func, _key(func.__code__))

    def _build_all(self) -> None:
        with self.lock:
            sources = list(self._files_by_filename.values())
        for source in sources:
            if source.deferred or source.register is not None:
                self.build(source)

    def add_namespace(
        self,
        filename: str,
        namespace: dict[str, Any],
        register: Callable[[dict[str, Any]], None] | None = None,
    ) -> SourceFile:
        """Know the module run from ``filename``, even with no function hot yet.

        Its file is watched, and changed top-level statements run in
        ``namespace``.  ``register(namespace)``, if given, makes its functions
        hot when the file is first needed: a look-up, a listing, an edit.
        """
        with self.lock:
            source = self._source_for(filename)
            source.namespace = namespace
            source.pinned = True
            if register is not None:
                source.register = register
            return source

    def remember_code(self, entry: Entry, code: CodeType) -> None:
        """Record ``code`` as the entry's current code, findable by its key."""
        self.remember_codes([(entry, code)])

    def remember_codes(self, moves: list[tuple[Entry, CodeType]]) -> None:
        """:meth:`remember_code` for many entries, in batches under the lock."""
        by_key = self._entries_by_key
        for start in range(0, len(moves), _BATCH):
            with self.lock:
                for entry, code in moves[start : start + _BATCH]:
                    old = _key(entry._code)
                    if by_key.get(old) is entry:
                        del by_key[old]
                    entry._code = code
                    by_key[_key(code)] = entry
            if start + _BATCH < len(moves):
                _let_others_in()

    def retarget(self, entry: Entry, func: FunctionType) -> None:
        """Make ``func`` the entry's only function: a definition that ran again.

        The old function object stays as the program holds it, but no later
        save sends it code.
        """
        with self.lock:
            entry._refs = weakref.ref(func)
            entry._occurrence = entry._definition = entry._origin = entry._definitions = None
            entry._shift = 0
            entry.error = None
            self.remember_code(entry, func.__code__)

    def forget(self, entry: Entry) -> None:
        """Drop ``entry``: its definition was replaced by one that no longer has it."""
        with self.lock:
            self._entries = [e for e in self._entries if e is not entry]
            self._entries_by_key = {k: e for k, e in self._entries_by_key.items() if e is not entry}
            entry.source.entries = [e for e in entry.source.entries if e is not entry]

    def prune(self) -> None:
        """Forget entries whose functions have all been garbage collected."""
        with self.lock:
            dead = [e for e in self._entries if not e.alive()]
            if not dead:
                return
            gone = set(map(id, dead))
            self._entries = [e for e in self._entries if id(e) not in gone]
            self._entries_by_key = {
                k: e for k, e in self._entries_by_key.items() if id(e) not in gone
            }
            for source in list(self._files_by_filename.values()):
                source.entries = [e for e in source.entries if id(e) not in gone]
                if not source.entries and not source.deferred and not source.pinned:
                    del self._files_by_filename[source.filename]
                    self.deferring.pop(source.filename, None)

    def clear(self) -> None:
        """Forget everything (tests use this between cases)."""
        with self.lock:
            self._entries.clear()
            self._entries_by_key.clear()
            self._files_by_filename.clear()
            self.deferring.clear()
            self._uncompressed.clear()

    # -- lookup ---------------------------------------------------------------

    def sources(self) -> list[SourceFile]:
        """A snapshot of the files that hold hot functions."""
        with self.lock:
            return list(self._files_by_filename.values())

    def paths(self) -> set[str]:
        """Real paths of every registered file that exists."""
        with self.lock:
            return {s.path for s in self._files_by_filename.values() if s.path}

    def sources_at(self, path: str, *, real: bool = False) -> list[SourceFile]:
        """The registered files at ``path``; ``real`` says it is resolved already."""
        real_path = path if real else os.path.realpath(path)
        with self.lock:
            return [s for s in self._files_by_filename.values() if s.path == real_path]

    def entries_of(self, source: SourceFile, *, build: bool = True) -> list[Entry]:
        """A snapshot of one file's entries; ``build`` builds the deferred ones first."""
        if build:
            self.build(source)
        with self.lock:
            return list(source.entries)

    def entries(self) -> list[Entry]:
        """A snapshot of the entries whose functions are still alive."""
        self._build_all()
        self.prune()
        with self.lock:
            return list(self._entries)

    def lookup(self, target: object) -> Entry | None:
        """The entry for a function object (or anything wrapping one), or None."""
        func, _ = innermost(target)
        if func is None:
            return None
        source = self._files_by_filename.get(func.__code__.co_filename)
        if source is not None:
            self.build(source)
        with self.lock:
            entry = self._entries_by_key.get(_key(func.__code__))
            if entry is not None and entry.holds(func):
                return entry
            for entry in self._entries:
                if entry.holds(func):
                    return entry
        return None

    def __len__(self) -> int:
        return len(self.entries())

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def __contains__(self, target: object) -> bool:
        try:
            self[target]
        except KeyError:
            return False
        return True

    def __getitem__(self, target: object) -> Entry:
        if isinstance(target, str):
            matches = [e for e in self.entries() if e.name == target]
            if len(matches) == 1:
                return matches[0]
            if matches:
                lines = ", ".join(str(e.lineno) for e in matches)
                msg = (
                    f"{len(matches)} hot functions are named {target!r} (lines {lines}); "
                    "look one up by its function object instead"
                )
                raise KeyError(msg)
            msg = f"no hot function is named {target!r}; names are 'module.qualname'"
            raise KeyError(msg)
        entry = self.lookup(target)
        if entry is None:
            msg = f"{target!r} is not registered with hotfunc; decorate it with @hot"
            raise KeyError(msg)
        return entry

    def failures(self) -> list[str]:
        """``file:line`` errors of top-level statements that a save could not run.

        Each is retried at every later save of its file until it runs.
        """
        with self.lock:
            return [f for s in self._files_by_filename.values() for f in s.failures]

    def stale(self) -> list[str]:
        """``file:line`` reports of what the saves left unlike a fresh import.

        A statement that reads a changed name but calls code, a subclass of
        a rebuilt class, what a changed decorator decorated: hotfunc does not
        run those again behind the program's back.  A statement's report goes
        when its text changes.
        """
        with self.lock:
            return [m for s in self._files_by_filename.values() for m in s.stale.values()]

    def followers(self) -> list[int]:
        """The pids of the live processes that follow this one's saves: the Python
        processes it started since ``start()``, and theirs."""
        return self.host.followers()

    def workers(self) -> list[tuple[str, int, list[str]]]:
        """The cluster workers that follow this process's saves, as
        ``(label, count of the last save applied there, what failed there)``."""
        return self.host.workers()

    def read_source(self, path: str, *, follow: bool = True, at_import: bool = False) -> bytes:
        """The bytes of the file at ``path``: as shipped, in a worker that applies
        another process's saves, else as on disk (see ``_files.read``)."""
        data = self.shipped.get(path)
        if data is not None:
            return data
        return _files.read(path, follow=follow, at_import=at_import)

    def __repr__(self) -> str:
        failures = self.failures()
        failures.extend(f"on {label}: {f}" for label, _, failed in self.workers() for f in failed)
        return format_table(
            self.entries(), self.host.watcher_state(), failures, self.stale(), self.followers()
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the same table as the repr."""
        printer.text(repr(self))

    def __rich__(self) -> Any:
        """A rich Table of the registry, for ``rich.print(registry)``."""
        notes = [f"pending: {f}" for f in self.failures()]
        notes.extend(f"pending: on {w}: {f}" for w, _, failed in self.workers() for f in failed)
        notes.extend(f"stale: {s}" for s in self.stale())
        return rich_table(self.entries(), self.host.watcher_state(), self.followers(), notes)
