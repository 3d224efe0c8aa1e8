"""The middle stages of a save: plan what changed, then apply it in file order.

The plan says which top-level statements to run (``_plan``); applying runs
them (``_apply``) and swaps each function whose code changed
(``_update``), interleaved as the file orders them, so that a statement
sees the functions above it already new.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import linecache
import operator
import sys
from collections.abc import Iterator
from types import CodeType, FunctionType

from .._state import registry, settings
from ..core import _codes
from ..core._entry import Entry
from ..core._sourcefile import SourceFile
from . import _copies, _plan, _recompile
from ._apply import Applier
from ._read import Compiled
from ._report import Swap
from ._update import Caches, locate, move, shift_functions, update_entry


class Planned:
    """What the save changed: the plan, the statements to run, and where the edit was."""

    __slots__ = ("actions", "after", "before", "delta", "moved", "plan", "unchanged")

    def __init__(self, plan: _plan.Plan, actions: list[_plan.Action], unchanged: bool) -> None:
        self.plan = plan
        self.actions = actions
        #: Whether the text is the one the live code came from (a restore).
        self.unchanged = unchanged
        #: Old lines before which nothing changed, after which lines only
        #: moved, and by how much.
        self.before, self.after, self.delta = 0, sys.maxsize, 0
        #: Whether lines may have moved: what a factory made moves with it.
        self.moved = not unchanged


class Applied:
    """What applying did: the statements run, the functions swapped, and the entries."""

    __slots__ = ("applier", "changed_codes", "entries", "exported", "swaps")

    def __init__(self, applier: Applier, entries: list[Entry]) -> None:
        self.applier = applier
        #: The file's entries as they were before any moved.
        self.entries = entries
        self.swaps: list[Swap] = []
        #: Each entry whose code the save changed, with the code it had.
        self.changed_codes: list[tuple[Entry, CodeType]] = []
        #: The names other modules could copy before the statements ran.
        self.exported: set[str] | None = None


def plan(source: SourceFile, compiled: Compiled) -> Planned:
    """Which statements of the saved text changed, and what each change needs."""
    new = compiled.compiled
    # The text the live code came from, read again (a forked child, a file
    # restored, a rollback): functions with no entry yet are as it says.
    unchanged = new is compiled.baseline
    region = new.region
    if region is not None:
        compiled.baseline = region.base  # the old text with the statements near the edit parsed
    planned = _plan.plan(compiled.baseline, new, retry=bool(source.failures))
    new.region = None  # syntax trees are large; the actions keep what they need
    actions = planned.actions
    if not settings.run_statements or source.namespace is None:
        actions = []  # function bodies only
    result = Planned(planned, actions, unchanged)
    old = compiled.baseline
    # Without a region (the whole text was compiled, or it did not change),
    # every entry is looked at, and none moved.
    if region is not None and old is not None and region.old_hi > region.old_lo:
        blocks = old.blocks
        result.before = blocks[region.old_lo].start
        result.after = blocks[region.old_hi - 1].end
        result.delta = region.delta
        result.moved = region.delta != 0
    return result


def apply(source: SourceFile, compiled: Compiled, planned: Planned) -> Applied:
    """Run the changed statements and swap the changed functions, in file order."""
    new, baseline, actions = compiled.compiled, compiled.baseline, planned.actions
    # Tracebacks and inspect.getsource() must show the new text, from the
    # first statement run on; dropping the cached lines costs no system
    # call, unlike checkcache().
    linecache.cache.pop(source.filename, None)
    if compiled.path in registry.shipped:
        # A worker's own copy of the file says nothing of the shipped text.
        lines = new.text.splitlines(keepends=True)
        linecache.cache[source.filename] = (len(new.text), None, lines, source.filename)
    applier = Applier(source, new, compiled.path)
    if actions:
        applier.prepare(actions)  # may make functions hot

    # Entries before the edited lines are untouched, and so are those after
    # them when no line moved: a large file's many functions cost one
    # comparison each.  Blocks the edit did not touch keep their
    # definitions, so most of the rest are settled by one lookup.
    before, after, delta = planned.before, planned.after, planned.delta
    entries = _settle_deferred(source, sys.maxsize if planned.unchanged else before, after, delta)
    applied = Applied(applier, entries)
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
            kept = {id(b.definitions): b for b in new.blocks if b.definitions}
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
        found = locate(entry, new, baseline)
        steps.append((found.block.start if found else 0, 1, None, entry, found))
    registry.remember_codes(moves)
    steps.sort(key=lambda step: step[:2])

    namespace = source.namespace
    if namespace is not None and any(a.kind != _plan.UPDATE for a in actions):
        applied.exported = _copies.exports(namespace)
    caches = Caches()
    for _, _, action, stepped, found in steps:
        if action is not None:
            ok = applier.run(action)
            action.block.live = None if ok else (action.previous or "")
        elif stepped is not None and id(stepped) not in applier.rebound:
            same = found is not None and planned.plan.unchanged(found.block, stepped.qualname)
            old_code = stepped.code
            error, swapped = update_entry(stepped, found, new, baseline, caches, same)
            applied.swaps.append(Swap(stepped, error, swapped, stepped.error))
            if swapped:
                applied.changed_codes.append((stepped, old_code))
            stepped.error = error  # at once: a caller may look right after the swap
    # Entries that had an error and were settled above recover.
    stepped_ids = {id(swap.entry) for swap in applied.swaps}
    for entry in entries:
        if entry.error is not None and id(entry) not in stepped_ids:
            applied.swaps.append(Swap(entry, None, False, entry.error))
            entry.error = None
    if applier.ran:
        source.ran = applier.ran  # at once: a caller may look right after the swap
    return applied


def _settle_deferred(source: SourceFile, before: int, after: int, delta: int) -> list[Entry]:
    """Functions with no entry yet: those the edit reached get one; those after it move.

    The rest, which a large file has by the thousand, cost a comparison.
    Returns the file's entries as they were before any moved: an entry a
    look-up builds later is built from code already moved.
    """
    registry.register_module(source)
    with source.moving, _collector_paused(delta != 0 and len(source.deferred) > _MANY):
        funcs = list(source.deferred)
        reached: list[FunctionType] = []
        # What can be asked of all the functions at once is asked in C: a
        # large file has a hundred thousand.  Whether one stands twice in the
        # list (``alias = f``, ``visit_A = visit_B = _skip`` in a class),
        # which must not move twice; whether one holds a nested code object,
        # which must move with it.  Most files say no to both, and a function
        # then costs what making its new code object costs.
        twice = bool(delta) and len(set(map(id, funcs))) != len(funcs)
        nested = bool(delta) and CodeType in set(
            map(type, itertools.chain.from_iterable(map(_CONSTS, map(_CODE, funcs))))
        )
        moved: set[int] = set()
        for func in funcs:
            code = func.__code__
            line = code.co_firstlineno
            if line > after:
                if not delta:
                    continue
                if twice:
                    if id(func) in moved:
                        continue
                    moved.add(id(func))
                # As shift_code(), inline.
                if nested and CodeType in map(type, code.co_consts):
                    func.__code__ = _codes.shift_code(code, delta)
                else:
                    func.__code__ = code.replace(co_firstlineno=line + delta)
            elif line >= before:
                reached.append(func)
        registry.build(source, reached)
        return registry.entries_of(source, build=False)


_CODE = operator.attrgetter("__code__")
_CONSTS = operator.attrgetter("co_consts")


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
