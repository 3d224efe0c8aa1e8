"""Reload one file: read it, recompile it, swap what changed, report.

This is the engine both the watcher thread and ``hotfunc.reload()`` drive.  It
never raises for bad input: a failure becomes ``entry.error``, a WARNING and a
failed event, and the function keeps its last good code.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import linecache
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from types import CodeType, FunctionType

from .. import _state
from .._state import raising, registry, settings
from ..core import _codes, _text
from ..core._entry import Entry, ReloadEvent
from ..core._sourcefile import AS_IMPORTED, SourceFile
from . import _apply, _copies, _dependents, _incremental, _oldcode, _plan, _recompile, _swap
from ._apply import Applier, Result
from ._notify import publish
from ._report import Swap, report
from ._update import Caches, locate, move, shift_functions, update_entry

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
        before = source.baseline
        try:
            events = _reload(source, started, settled)
            if source.baseline is not before and _state.shippers:
                _ship(source)
            return events
        except Exception as exc:  # the watcher and reload() must outlive any bug
            logger.debug("reloading %s failed", source.filename, exc_info=True)
            return _fail_file(
                source,
                started,
                f"{source.path or source.filename}:1: reloading failed with "
                f"{type(exc).__name__}: {exc}; keeping the last good code",
            )


def _ship(source: SourceFile) -> None:
    """Tell the clusters that follow this process of a text it applied."""
    _state.saves += 1
    source.saved_at = _state.saves
    for shipper in list(_state.shippers):
        try:
            shipper(source)
        except Exception:  # a cluster's trouble must not stop the save here
            logger.exception("shipping the save of %s failed", source.filename)


def _reload(
    source: SourceFile, started: float, settled: Callable[[bool], bool] | None
) -> list[ReloadEvent]:
    path = source.path
    if path is None or (not source.entries and not source.deferred and source.namespace is None):
        return []
    try:
        data = registry.read_source(path)
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
        text = _text.decode(data)
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
            compiled = _incremental.update_source(baseline, text, source.filename)
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
    if path in _state.shipped:
        # A worker's own copy of the file says nothing of the shipped text.
        lines = compiled.text.splitlines(keepends=True)
        linecache.cache[source.filename] = (len(compiled.text), None, lines, source.filename)
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
                move(entry, block.shift)
            continue
        assert unparsed is not None
        if unparsed.holds(entry):
            # Its def was never parsed, and the edit did not come near it.
            if delta and line > after:
                moves.append((entry, shift_functions(entry, delta)))
            continue
        found = locate(entry, compiled, baseline)
        steps.append((found.block.start if found else 0, 1, None, entry, found))
    registry.remember_codes(moves)
    steps.sort(key=lambda step: step[:2])

    namespace = source.namespace
    rebinding = any(a.kind != _plan.UPDATE for a in actions)
    exported = _copies.exports(namespace) if rebinding and namespace is not None else None
    swaps: list[Swap] = []
    changed_codes: list[tuple[Entry, CodeType]] = []
    caches = Caches()
    for _, _, action, stepped, found in steps:
        if action is not None:
            ok = applier.run(action)
            action.block.live = None if ok else (action.previous or "")
        elif stepped is not None and id(stepped) not in applier.rebound:
            same = found is not None and planned.unchanged(found.block, stepped.qualname)
            old_code = stepped.code
            error, swapped = update_entry(stepped, found, compiled, baseline, caches, same)
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
    elsewhere: list[str] = []
    # What the save's changes reach beyond themselves.  The swaps and
    # statements above have happened whatever goes wrong here, so a failure
    # is reported as such and the save stands.
    try:
        if applier.rebinds and namespace is not None:
            compiled, reported = _follow(applier, compiled, namespace, exported, elsewhere)
        if changed_codes:
            swapped_entries = [entry for entry, _ in changed_codes]
            updated = _oldcode.closures(changed_codes)
            applier.results.extend(_apply.Result("updated", target, 0) for target in updated)
            running = _oldcode.running(swapped_entries)
            for swap in swaps:
                swap.running = running.get(id(swap.entry), 0)
            source.baseline = compiled  # the new text is where a decorator is used now
            reported.extend(_oldcode.decorated(swapped_entries))
    except Exception as exc:
        logger.debug("following %s failed", path, exc_info=True)
        reported.append(
            (
                "\0follow",
                f"{path}:1: the save was applied, but what it reaches in other statements "
                f"and modules could not be followed ({type(exc).__name__}: {exc}); a "
                "restart gives a fresh import",
            )
        )
    if applier.ran:
        source.ran = applier.ran
    source.baseline = compiled
    source.imported = None
    stale = [*_dependents.keep_stale(source, compiled.text, reported), *elsewhere]
    duration = time.perf_counter() - started
    events = report(source, path, swaps, applier.results, duration, stale)
    _apply_error_policy(entries)
    return events


def _follow(
    applier: Applier,
    compiled: _recompile.CompiledSource,
    namespace: dict[str, Any],
    exported: set[str] | None,
    elsewhere: list[str],
) -> tuple[_recompile.CompiledSource, list[tuple[str, str]]]:
    """Bring what the save's rebound names reach to a fresh import's state, or report it.

    Returns the compiled file (the statements looked at, parsed) and the
    reports, as (statement text, message); ``elsewhere`` gets the new
    reports about other files' statements, to log.
    """
    follower = _dependents.Follower(applier, compiled)
    compiled = follower.follow(dict(applier.rebinds), applier.ran_lines)
    rebinds = applier.rebinds
    now = _copies.exports(namespace) or set()
    new_exports = (now - (exported or set())) | (now & set(rebinds))
    hot = [s.namespace for s in registry.sources() if s.namespace is not None]
    copies = _copies.rebind_copies(applier.module, namespace, rebinds, new_exports, hot)
    applier.results.extend(Result("rebound", copy, 0) for copy in copies)
    subclasses = _dependents.subclasses_left(applier.module, rebinds, {applier.module})
    # Statements of other modules are reported in their own file's stale
    # list, so that saving the statement there clears its report.
    others = [s for s in registry.sources() if s is not applier.source]
    for other, key, message in _copies.readers_elsewhere(applier.module, rebinds, others):
        if other.stale.get(key) != message:
            other.stale[key] = message
            elsewhere.append(message)
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
            source.baseline = _incremental.unparsed(_text.decode(imported))
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
                    func.__code__ = _codes.shift_code(code, delta)
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
