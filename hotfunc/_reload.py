"""Reload one file: read it, recompile it, swap what changed, report.

This is the engine both the watcher thread and ``hotfunc.reload()`` drive.  It
never raises for bad input: a failure becomes ``entry.error``, a WARNING and a
failed event, and the function keeps its last good code.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import gc
import linecache
import logging
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import CodeType, FunctionType

from . import _apply, _dependents, _files, _history, _oldcode, _plan, _recompile, _swap
from ._apply import Applier, Result, line_in
from ._entry import Entry, ReloadEvent
from ._registry import callbacks, raising, registry, settings
from ._report import Swap, report
from ._sourcefile import AS_IMPORTED, SourceFile
from ._wrappers import innermost, signature_reader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = logging.getLogger("hotfunc")


def reload_source(
    source: SourceFile, settled: Callable[[bool], bool] | None = None
) -> list[ReloadEvent]:
    """Bring the live module of ``source`` in line with the file on disk.

    ``settled``, called after the file is read with whether it was empty,
    says whether the read saw one save whole; when it says no (a write was
    under way), nothing is applied, and the watcher reloads again once the
    write is closed.

    Never raises for what a file holds: any failure, even one of hotfunc's
    own, becomes an error in the registry, a WARNING and a failed event.
    """
    started = time.perf_counter()
    with source.lock:
        try:
            return _reload(source, started, settled)
        except Exception as exc:  # the watcher and reload() must outlive any bug
            logger.debug("reloading %s failed", source.filename, exc_info=True)
            return _fail_file(
                source,
                started,
                f"{source.path or source.filename}:1: reloading failed with "
                f"{type(exc).__name__}: {exc}; keeping the last good code",
            )


def _reload(
    source: SourceFile, started: float, settled: Callable[[bool], bool] | None
) -> list[ReloadEvent]:
    path = source.path
    if path is None or (not source.entries and not source.deferred and source.namespace is None):
        return []
    try:
        data = _files.read(path)
    except FileNotFoundError:
        source.digest = None
        return _fail_file(
            source,
            started,
            f"{path}:1: file deleted; keeping the last good code until it reappears",
        )
    except OSError as exc:
        source.digest = None
        return _fail_file(
            source,
            started,
            f"{path}:1: cannot read the file: {exc.strerror}; keeping the last good code",
        )
    if settled is not None and not settled(not data.strip()):
        return []  # caught mid-save: the close of that write brings it back
    digest = (len(data), hash(data))
    if source.digest is AS_IMPORTED:
        imported = source.imported_bytes()
        source.digest = None if imported is None else (len(imported), hash(imported))
    if digest == source.digest and not source.failures:
        return []
    baseline = _baseline(source)
    source.digest = digest
    if not data.strip():
        what = "file is empty (a save in progress?)"
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(os.stat(path).st_mode):
                what = "not a regular file (a FIFO, a device?), so it is not read"
        return _fail_file(source, started, f"{path}:1: {what}; keeping the last good code")
    try:
        text = _recompile.decode(data)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return _fail_file(
            source,
            started,
            f"{path}:{line}: cannot decode the file as {exc.encoding}: "
            f"{exc.reason}; declare its encoding with a '# -*- coding: ... -*-' line",
        )
    except SyntaxError as exc:
        return _fail_file(
            source,
            started,
            f"{path}:{exc.lineno or 1}: {exc.msg}; keeping the last good code",
        )
    if b"\0" in data:
        # Python says "null bytes" without a line; point at the first one.
        line = data[: data.index(b"\0")].count(b"\n") + 1
        return _fail_file(
            source,
            started,
            f"{path}:{line}: the file holds a null byte, which Python source cannot; "
            "keeping the last good code",
        )
    try:
        if baseline is None:
            compiled = _recompile.compile_source(text, source.filename)
        else:
            compiled = _recompile.update_source(baseline, text, source.filename)
    except SyntaxError as exc:
        return _fail_file(
            source,
            started,
            f"{path}:{exc.lineno or 1}: {type(exc).__name__}: {exc.msg}; "
            "keeping the last good code",
        )
    except ValueError as exc:
        return _fail_file(source, started, f"{path}:1: {exc}; keeping the last good code")
    return _apply_save(source, path, baseline, compiled, started)


def _apply_save(
    source: SourceFile,
    path: str,
    baseline: _recompile.CompiledSource | None,
    compiled: _recompile.CompiledSource,
    started: float,
) -> list[ReloadEvent]:
    """Run what changed and swap what changed, in file order; then report."""
    # The text the live code came from, read again (a forked child, a file
    # restored, a rollback): functions with no entry yet are as it says.
    unchanged = compiled is baseline
    region = compiled.region
    if region is not None:
        baseline = region.base  # the old text with the statements near the edit parsed
    planned = _plan.plan(baseline, compiled, retry=bool(source.failures))
    compiled.region = None  # syntax trees are large; the actions keep what they need
    actions = planned.actions
    if not settings.run_statements or source.namespace is None:
        actions = []  # function bodies only
    # Tracebacks and inspect.getsource() must show the new text, from the
    # first statement run on; dropping the cached lines costs no system
    # call, unlike checkcache().
    linecache.cache.pop(source.filename, None)
    applier = Applier(source, compiled, path)
    if actions:
        applier.prepare(actions)  # may make functions hot

    # Entries before the edited lines are untouched, and so are those after
    # them when no line moved: a large file's many functions cost one
    # comparison each.  Blocks the edit did not touch keep their
    # definitions, so most of the rest are settled by one lookup.
    before, after, delta = _edited_lines(baseline, region)
    entries = _settle_deferred(source, sys.maxsize if unchanged else before, after, delta)
    kept: dict[int, _recompile.Block] | None = None
    unparsed: _Unparsed | None = None
    moves: list[tuple[Entry, CodeType]] = []
    steps: list[tuple[int, int, _plan.Action | None, Entry | None, _recompile.Located | None]]
    steps = [(a.block.start, 0, a, None, None) for a in actions if a.kind != _plan.UPDATE]
    for entry in entries:
        line = entry._code.co_firstlineno
        if entry.error is None and (line < before or (line > after and not delta)):
            continue
        if kept is None:
            kept = {id(b.definitions): b for b in compiled.blocks if b.definitions}
            unparsed = _Unparsed(baseline)
        block = kept.get(id(entry._definitions))
        if block is not None and block.definitions is entry._definitions:
            if block.shift != entry._shift:
                _move(entry, block.shift)
            continue
        assert unparsed is not None
        if unparsed.holds(entry):
            # Its def was never parsed, and the edit did not come near it.
            if delta and line > after:
                moves.append((entry, _shift_functions(entry, delta)))
            continue
        found = _locate(entry, compiled, baseline)
        steps.append((found.block.start if found else 0, 1, None, entry, found))
    registry.remember_codes(moves)
    steps.sort(key=lambda step: step[:2])

    namespace = source.namespace
    rebinding = any(a.kind != _plan.UPDATE for a in actions)
    exported = _dependents.exports(namespace) if rebinding and namespace is not None else None
    swaps: list[Swap] = []
    changed_codes: list[tuple[Entry, CodeType]] = []
    caches = _Caches()
    for _, _, action, stepped, found in steps:
        if action is not None:
            ok = applier.run(action)
            action.block.live = None if ok else (action.previous or "")
        elif stepped is not None and id(stepped) not in applier.rebound:
            same = found is not None and planned.unchanged(found.block, stepped.qualname)
            old_code = stepped.code
            error, swapped = _update(stepped, found, compiled, baseline, caches, same)
            swaps.append(Swap(stepped, error, swapped, stepped.error))
            if swapped:
                changed_codes.append((stepped, old_code))
            stepped.error = error  # at once: a caller may look right after the swap
    # Entries that had an error and were settled above recover.
    stepped_ids = {id(swap.entry) for swap in swaps}
    for entry in entries:
        if entry.error is not None and id(entry) not in stepped_ids:
            swaps.append(Swap(entry, None, False, entry.error))
            entry.error = None
    if applier.ran:
        source.ran = applier.ran  # at once: a caller may look right after the swap
    reported: list[tuple[str, str]] = []
    if applier.rebinds and namespace is not None:
        compiled, reported = _follow(applier, compiled, namespace, exported)
    if changed_codes:
        swapped_entries = [entry for entry, _ in changed_codes]
        updated = _oldcode.closures(changed_codes)
        applier.results.extend(_apply.Result("updated", target, 0) for target in updated)
        running = _oldcode.running(swapped_entries)
        for swap in swaps:
            swap.running = running.get(id(swap.entry), 0)
    if applier.ran:
        source.ran = applier.ran
    source.baseline = compiled
    source.imported = None
    if changed_codes:
        reported.extend(_oldcode.decorated(swapped_entries))
    stale = _dependents.keep_stale(source, compiled.text, reported)
    duration = time.perf_counter() - started
    events = report(source, path, swaps, applier.results, duration, stale)
    _apply_error_policy(entries)
    return events


def _follow(
    applier: Applier,
    compiled: _recompile.CompiledSource,
    namespace: dict[str, Any],
    exported: set[str] | None,
) -> tuple[_recompile.CompiledSource, list[tuple[str, str]]]:
    """Bring what the save's rebound names reach to a fresh import's state, or report it.

    Returns the compiled file (the statements looked at, parsed) and the
    reports, as (statement text, message).
    """
    follower = _dependents.Follower(applier, compiled)
    compiled = follower.follow(dict(applier.rebinds), applier.ran_lines)
    rebinds = applier.rebinds
    now = _dependents.exports(namespace) or set()
    new_exports = (now - (exported or set())) | (now & set(rebinds))
    hot = [s.namespace for s in registry.sources() if s.namespace is not None]
    copies = _dependents.rebind_copies(applier.module, namespace, rebinds, new_exports, hot)
    applier.results.extend(Result("rebound", copy, 0) for copy in copies)
    subclasses = _dependents.subclasses_left(applier.module, rebinds, {applier.module})
    return compiled, [*follower.reported, *subclasses]


def _apply_error_policy(entries: list[Entry]) -> None:
    """With ``on_error="raise"``, failed functions raise at their next call until fixed."""
    if settings.on_error != "raise" and not raising:
        return
    for entry in entries:
        if entry.error is not None and settings.on_error == "raise":
            for func in entry.functions:
                code = _swap.raising_code(func, entry.error)
                if code is not None:
                    func.__code__ = code
                    raising.add(entry)
        elif entry in raising:
            for func in entry.functions:
                if func.__code__.co_filename == _swap.RAISING:
                    func.__code__ = entry.code
            raising.discard(entry)


def _baseline(source: SourceFile) -> _recompile.CompiledSource | None:
    """The text the live code came from: the imported text, unparsed, until an edit.

    Nothing is compiled ahead of an edit: the first edit parses only the
    statements around it, whatever the size of the file.
    """
    imported = source.imported_bytes()
    if source.baseline is None and imported is not None:
        try:
            source.baseline = _recompile.unparsed(_recompile.decode(imported))
        except (SyntaxError, UnicodeDecodeError):  # it imported, so it decodes
            source.baseline = None
        source.imported = None
    return source.baseline


def _settle_deferred(source: SourceFile, before: int, after: int, delta: int) -> list[Entry]:
    """Functions with no entry yet: those the edit reached get one; those after it move.

    The rest, which a large file has by the thousand, cost a comparison.
    Returns the file's entries as they were before any moved: an entry a
    look-up builds later is built from code already moved.
    """
    registry.register_module(source)
    with source.moving, _collector_paused(delta != 0 and len(source.deferred) > _MANY):
        reached: list[FunctionType] = []
        # A function registered under two names (``alias = f``, ``visit_A =
        # visit_B = _skip`` in a class) stands twice in the list, and must
        # not move twice.
        moved: set[int] = set()
        for func in list(source.deferred):
            code = func.__code__
            line = code.co_firstlineno
            if line > after:
                if not delta or id(func) in moved:
                    continue
                moved.add(id(func))
                # As shift_code(), inline: a large file has a hundred thousand.
                if CodeType in map(type, code.co_consts):
                    func.__code__ = _recompile.shift_code(code, delta)
                else:
                    func.__code__ = code.replace(co_firstlineno=line + delta)
            elif line >= before:
                reached.append(func)
        registry.build(source, reached)
        return registry.entries_of(source, build=False)


# More functions to move than this, and the cyclic garbage collector waits.
_MANY = 10_000


@contextlib.contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """Hold off the cyclic garbage collector while many functions move.

    Each new code object allocates a tuple the collector tracks, so moving a
    hundred thousand functions set off full collections of the whole heap,
    which cost as much as the moves.  The loop runs none of the
    application's code and makes no garbage; the collector's state is
    restored after it, as the application had it.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _edited_lines(
    baseline: _recompile.CompiledSource | None, region: _recompile.Region | None
) -> tuple[int, int, int]:
    """Old lines before which nothing changed, after which lines only moved, and by how much.

    Without a region (the whole text was compiled, or it did not change),
    every entry is looked at, and none moved.
    """
    if region is None or baseline is None or region.old_hi <= region.old_lo:
        return 0, sys.maxsize, 0
    blocks = baseline.blocks
    return blocks[region.old_lo].start, blocks[region.old_hi - 1].end, region.delta


class _Unparsed:
    """Which entries live in lines of the old text that were never parsed."""

    def __init__(self, baseline: _recompile.CompiledSource | None) -> None:
        blocks = [b for b in baseline.blocks if b.opaque] if baseline is not None else []
        self._starts = [b.start for b in blocks]
        self._ends = [b.end for b in blocks]

    def holds(self, entry: Entry) -> bool:
        if not self._starts or entry._occurrence is not None:
            return False
        line = entry.lineno
        index = bisect.bisect_right(self._starts, line) - 1
        return index >= 0 and line <= self._ends[index]


def _shift_functions(entry: Entry, lines: int) -> CodeType:
    """Move the functions of an entry whose def was never parsed ``lines`` down.

    Returns the new code, for the registry to record.
    """
    code = _recompile.shift_code(entry._code, lines)
    _give_moved(entry, code)
    return code


def _give_moved(entry: Entry, code: CodeType) -> None:
    """Give the entry's live functions ``code``, their code at new lines."""
    refs = entry._refs
    for ref in refs if isinstance(refs, list) else (refs,):
        func = ref()
        if func is not None and func.__code__.co_freevars == code.co_freevars:
            func.__code__ = code


def _fail_file(source: SourceFile, started: float, error: str) -> list[ReloadEvent]:
    """Every function of the file keeps its code and gets ``error``."""
    duration = time.perf_counter() - started
    entries = [e for e in registry.entries_of(source) if e.alive()]
    if any(e.error != error for e in entries) or (not entries and error not in source.failures):
        logger.warning("%s", error)
    for entry in entries:
        entry.error = error
    if not entries:
        # A module made hot whole, with no function: the file keeps the error.
        source.failures = [error]
        return [ReloadEvent(None, False, error, duration, 0, action="failed", file=source.filename)]
    _apply_error_policy(entries)
    return [ReloadEvent(e, False, error, duration, e.version) for e in entries]


def _locate(
    entry: Entry,
    compiled: _recompile.CompiledSource,
    baseline: _recompile.CompiledSource | None,
) -> _recompile.Located | None:
    """The entry's definition in ``compiled``, or None when the file lost it."""
    if entry._occurrence is None:
        _resolve(entry, baseline)
    assert entry._occurrence is not None
    return _recompile.find(compiled, entry.qualname, entry._occurrence)


def _update(
    entry: Entry,
    found: _recompile.Located | None,
    compiled: _recompile.CompiledSource,
    baseline: _recompile.CompiledSource | None,
    caches: _Caches,
    same: bool = False,
) -> tuple[str | None, bool]:
    """Swap one entry to its code in ``compiled``; return (error, swapped).

    ``same`` says the ``def`` statement did not change: whatever differs in
    the code is positions, or how an imported name is called.
    """
    funcs = entry.functions
    path = entry.file
    if found is None:
        return (
            f"{path}:{entry.lineno}: {entry.qualname!r} is no longer defined in the file "
            "(removed or renamed?); keeping its last good code",
            False,
        )
    definition = found.definition
    if entry._definition is None:
        # The text it was built from is unknown (never readable): take the
        # file as it is now for its defaults and annotations.
        entry._definition = definition
    signature_changed = not same and definition.signature_key != entry._definition.signature_key
    code = found.code()
    if (
        "__class__" in code.co_freevars
        and funcs
        and "__class__" not in funcs[0].__code__.co_freevars
    ):
        code = _explicit_super(entry, compiled, found, funcs[0]) or code
    code_changed = code != entry.code
    # Moved, reformatted or re-commented: new positions, same behaviour.
    moved = code_changed and (same or _recompile.same_behaviour(entry.code, code))
    if not code_changed and not signature_changed:
        _settle(entry, found)
        return None, False
    # Closures made before their free variables changed cannot take the new
    # code; the rest can, among them the ones a reloaded factory now makes.
    errors = [_swap.closure_error(func, code) for func in funcs]
    stale = next((e for e in errors if e is not None), None)
    funcs = [f for f, e in zip(funcs, errors, strict=True) if e is None]
    problem = None if stale is None else f"{path}:{found.lineno}: {stale}"
    if not funcs:
        return problem, False
    made: FunctionType | None = None
    if signature_changed:
        try:
            made = _recompile.evaluate_definition(
                _recompile.node_of(compiled, found),
                entry.source.filename,
                compiled.flags,
                funcs[0].__globals__,
                _namespace(funcs[0]),
            )
        except Exception as exc:
            line = line_in(exc.__traceback__, entry.source.filename, found.lineno)
            return (
                f"{path}:{line}: evaluating the defaults or annotations of {entry.qualname!r} "
                f"raised {type(exc).__name__}: {exc}; keeping its last good code",
                False,
            )
    entry_definition = entry._definition
    replace_defaults = definition.defaults_key != entry_definition.defaults_key
    changes_behaviour = not moved or signature_changed
    if changes_behaviour and entry._history is None:
        _history.record(entry, _old_source(entry, baseline), funcs[0])
    for func in funcs:
        _swap.apply(func, code, made, replace_defaults)
    registry.remember_code(entry, code)
    _settle(entry, found)
    if not changes_behaviour:
        return problem, False
    entry.version += 1
    entry.reloaded_at = time.time()
    _history.record(entry, found.source(compiled), funcs[0])
    if signature_changed and _parameters(definition) != _parameters(entry_definition):
        holder = signature_reader(funcs[0])
        if holder is not None:
            logger.info(
                "%s:%d: the signature of %s changed; %s read it at startup and keeps the "
                "old one until the framework builds it again, or until a restart",
                path,
                found.lineno,
                entry.qualname,
                holder,
            )
    _swap.clear_caches([*entry.caches(), *caches.around(funcs[0])])
    return problem, True


def _parameters(definition: _recompile.Definition) -> str:
    """The signature key without the docstring, its last part."""
    return definition.signature_key.rpartition("\0")[0]


def _old_source(entry: Entry, baseline: _recompile.CompiledSource | None) -> str:
    """The text the entry's live code was compiled from, when it is known."""
    old = entry._definition
    if baseline is None or old is None or entry._origin is None:
        return ""
    first = old.firstlineno + entry._shift
    return "".join(baseline.lines[first - 1 : old.end + entry._shift])


def _settle(entry: Entry, found: _recompile.Located) -> None:
    """Record which compiled definition the entry's live code now comes from."""
    entry._origin = found.origin
    entry._definition = found.definition
    entry._definitions = found.block.definitions
    entry._shift = found.shift


def _move(entry: Entry, shift: int) -> None:
    """Give functions whose code only moved their new line numbers."""
    assert entry._origin is not None
    code = _recompile.shift_code(entry._origin, shift)
    _give_moved(entry, code)
    registry.remember_code(entry, code)
    entry._shift = shift


class _Caches:
    """``lru_cache`` wrappers applied over hot functions after ``@hot`` saw them.

    Such a wrapper can only be reached from where the decorated name was
    stored: the module's globals, or the class dict for a method.  Each of
    those is scanned once per save, whatever the number of swaps; the heap
    is never scanned.
    """

    def __init__(self) -> None:
        self._by_function: dict[int, list[object]] = {}
        self._scanned: set[int] = set()

    def around(self, func: FunctionType) -> list[object]:
        self._scan(func.__globals__)
        owner = _owner_class(func, None)
        if owner is not None:
            self._scan(vars(owner))
        return self._by_function.get(id(func), [])

    def _scan(self, place: Mapping[str, Any]) -> None:
        if id(place) in self._scanned:
            return
        self._scanned.add(id(place))
        # type() never runs the objects' own code, unlike isinstance(), which
        # asks a proxy for its __class__; and it is cheap over large modules.
        for value in list(place.values()):
            if type(value) in (staticmethod, classmethod):
                value = value.__func__
            if type(value) is _LRU_WRAPPER:
                inner, caches = innermost(value)
                if inner is not None:
                    self._by_function.setdefault(id(inner), []).extend(caches)


_LRU_WRAPPER = type(functools.lru_cache(maxsize=1)(lambda: None))


def _explicit_super(
    entry: Entry,
    compiled: _recompile.CompiledSource,
    found: _recompile.Located,
    func: FunctionType,
) -> CodeType | None:
    """Code for a method that newly uses ``super()``, when its class is reachable."""
    if _owner_class(func, None) is None:
        return None
    node = _recompile.node_of(compiled, found)
    return _recompile.compile_explicit_super(
        node, entry.qualname, entry.source.filename, compiled.flags
    )


def _resolve(entry: Entry, baseline: _recompile.CompiledSource | None) -> None:
    """Find which ``def`` in the old text the live code came from."""
    entry._occurrence = ("", 0)
    if baseline is None:
        return
    occurrence = _recompile.occurrence_of(baseline, entry.qualname, entry.code.co_firstlineno)
    entry._occurrence = occurrence
    found = _recompile.find(baseline, entry.qualname, occurrence)
    if found is None:
        return
    entry._definition = found.definition
    if found.code() == entry.code:
        _settle(entry, found)


def _namespace(func: FunctionType) -> dict[str, Any]:
    """Names a ``def`` statement sees besides globals: closure cells, class scope."""
    names: dict[str, Any] = {}
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell: not bound yet
            names[name] = cell.cell_contents
    owner = _owner_class(func, names.get("__class__"))
    if owner is not None:
        names.update(vars(owner))
    return names


def _owner_class(func: FunctionType, class_cell: object) -> type | None:
    if isinstance(class_cell, type):
        return class_cell
    parts = func.__qualname__.split(".")[:-1]
    if not parts or "<locals>" in parts:
        return None
    owner: object = func.__globals__.get(parts[0])
    for part in parts[1:]:
        owner = getattr(owner, part, None)
    return owner if isinstance(owner, type) else None


def notify(events: list[ReloadEvent]) -> None:
    """Call every ``on_reload`` callback with each event; never raise."""
    handlers = list(callbacks)
    policy = settings.on_error
    if callable(policy):
        handlers.append(lambda event: None if event.ok else policy(event))
    for callback in handlers:
        for event in events:
            try:
                callback(event)
            except Exception:
                logger.exception("on_reload callback %r raised", callback)


def reload_path(path: str, settled: Callable[[bool], bool] | None = None) -> list[ReloadEvent]:
    """Reload every registered file at ``path`` (a real path) for the watcher.

    Subscribers are called on a thread of their own: a slow ``on_reload``
    callback must not hold up the next save of another file.
    """
    events: list[ReloadEvent] = []
    for source in registry.sources_at(path, real=True):
        events.extend(reload_source(source, settled))
    publish(events)
    return events


def retry_pending() -> list[ReloadEvent]:
    """Run again the failed statements of every file: the saves just applied may
    have made them succeed (a name one file imports, which another defines).

    Rounds go on while a round leaves fewer statements failing.
    """
    events: list[ReloadEvent] = []
    failing = [s for s in registry.sources() if s.failures]
    while failing:
        before = sum(len(s.failures) for s in failing)
        for source in failing:
            events.extend(e for e in reload_source(source) if e.action != "stale")
        failing = [s for s in failing if s.failures]
        if sum(len(s.failures) for s in failing) >= before:
            break
    return events


def publish(events: list[ReloadEvent]) -> None:
    """Hand events to the ``on_reload`` callbacks, on a thread of their own."""
    if events and (callbacks or callable(settings.on_error)):
        _notifier().put(events)


_queue: queue.SimpleQueue[list[ReloadEvent]] | None = None


def _notifier() -> queue.SimpleQueue[list[ReloadEvent]]:
    """The queue a daemon thread empties into the ``on_reload`` callbacks."""
    global _queue
    if _queue is None:
        _queue = queue.SimpleQueue()
        threading.Thread(
            target=_notify_forever, args=(_queue,), name="hotfunc-callbacks", daemon=True
        ).start()
    return _queue


def _notify_forever(events: queue.SimpleQueue[list[ReloadEvent]]) -> None:
    while True:
        notify(events.get())


def _forget_notifier() -> None:
    """In a forked child the thread is gone; the next event starts another."""
    global _queue
    _queue = None


os.register_at_fork(after_in_child=_forget_notifier)
