"""Reload one file: the stages of a save, in order.

This is the engine both the watcher thread and ``hotfunc.reload()`` drive.
A save goes through six stages, each taking what the one before returned:

1. read: the file's bytes, decoded (``_read.read``);
2. compile: the statements near the edit, against the text the live code
   came from (``_read.compile_text``);
3. plan: which top-level statements changed, and what each needs
   (``_steps.plan``);
4. apply: the changed statements run and the changed functions swapped, in
   file order (``_steps.apply``);
5. reach: what the names the save rebound reach in other statements and
   modules, and the old code the swaps leave running (``_reach``);
6. report: one log line, the events, and the registry's state (``_finish``).

It never raises for bad input: a failure becomes ``entry.error``, a WARNING
and a failed event, and the function keeps its last good code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .. import _state
from .._state import raising, registry, settings
from ..core._entry import Entry, ReloadEvent
from ..core._sourcefile import SourceFile
from . import _apply, _copies, _dependents, _oldcode, _read, _steps, _swap
from ._notify import publish
from ._read import Compiled, Failed
from ._report import report
from ._steps import Applied, Planned

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
            events = _save(source, started, settled)
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


def _save(
    source: SourceFile, started: float, settled: Callable[[bool], bool] | None
) -> list[ReloadEvent]:
    """One save, stage by stage; a stage that fails ends it with the file's error."""
    saved = _read.read(source, settled)
    if saved is None:
        return []  # nothing new, or a write still under way
    if isinstance(saved, Failed):
        return _fail_file(source, started, saved)
    compiled = _read.compile_text(source, saved)
    if isinstance(compiled, Failed):
        return _fail_file(source, started, compiled)
    planned = _steps.plan(source, compiled)
    applied = _steps.apply(source, compiled, planned)
    reported, elsewhere = _reach(source, compiled, planned, applied)
    return _finish(source, compiled, applied, reported, elsewhere, started)


def _reach(
    source: SourceFile, compiled: Compiled, planned: Planned, applied: Applied
) -> tuple[list[tuple[str, str]], list[str]]:
    """What the save's changes reach beyond themselves, brought to a fresh import's
    state or reported.

    Returns the reports, as (statement text, message), and the new reports
    about other files' statements, to log.  The swaps and statements have
    happened whatever goes wrong here, so a failure is reported as such and
    the save stands.
    """
    applier, changed_codes = applied.applier, applied.changed_codes
    namespace = source.namespace
    reported: list[tuple[str, str]] = []
    elsewhere: list[str] = []
    try:
        if applier.rebinds and namespace is not None:
            reported = _rebound(source, compiled, applied, namespace, elsewhere)
        if changed_codes:
            swapped_entries = [entry for entry, _ in changed_codes]
            updated = _oldcode.closures(changed_codes)
            applier.results.extend(_apply.Result("updated", target, 0) for target in updated)
            running = _oldcode.running(swapped_entries)
            for swap in applied.swaps:
                swap.running = running.get(id(swap.entry), 0)
            source.baseline = compiled.compiled  # the new text is where a decorator is used now
            reported.extend(_oldcode.decorated(swapped_entries))
        if planned.moved and namespace is not None:
            moved = _oldcode.moved_closures(namespace, source.filename)
            applier.results.extend(_apply.Result("moved", target, 0) for target in moved)
    except Exception as exc:
        logger.debug("following %s failed", compiled.path, exc_info=True)
        reported.append(
            (
                "\0follow",
                f"{compiled.path}:1: the save was applied, but what it reaches in other "
                f"statements and modules could not be followed ({type(exc).__name__}: {exc}); "
                "a restart gives a fresh import",
            )
        )
    return reported, elsewhere


def _rebound(
    source: SourceFile,
    compiled: Compiled,
    applied: Applied,
    namespace: dict[str, object],
    elsewhere: list[str],
) -> list[tuple[str, str]]:
    """Follow the names the save bound to new objects: statements that read them,
    copies in other modules, subclasses; ``compiled`` gets the statements looked at,
    parsed."""
    applier = applied.applier
    follower = _dependents.Follower(applier, compiled.compiled)
    compiled.compiled = follower.follow(dict(applier.rebinds), applier.ran_lines)
    rebinds = applier.rebinds
    now = _copies.exports(namespace) or set()
    new_exports = (now - (applied.exported or set())) | (now & set(rebinds))
    hot = [s.namespace for s in registry.sources() if s.namespace is not None]
    copies = _copies.rebind_copies(applier.module, namespace, rebinds, new_exports, hot)
    applier.results.extend(_apply.Result("rebound", copy, 0) for copy in copies)
    subclasses = _dependents.subclasses_left(applier.module, rebinds, {applier.module})
    # Statements of other modules are reported in their own file's stale
    # list, so that saving the statement there clears its report.
    others = [s for s in registry.sources() if s is not source]
    for other, key, message in _copies.readers_elsewhere(applier.module, rebinds, others):
        other.stale[key] = message
        elsewhere.append(message)  # again at each save that changes what it reads
    return [*follower.reported, *subclasses]


def _finish(
    source: SourceFile,
    compiled: Compiled,
    applied: Applied,
    reported: list[tuple[str, str]],
    elsewhere: list[str],
    started: float,
) -> list[ReloadEvent]:
    """The saved text becomes the one the live code came from; one line, the events."""
    if applied.applier.ran:
        source.ran = applied.applier.ran
    source.baseline = compiled.compiled
    source.imported = None
    stale = [*_dependents.keep_stale(source, compiled.compiled.text, reported), *elsewhere]
    duration = time.perf_counter() - started
    events = report(source, compiled.path, applied.swaps, applied.applier.results, duration, stale)
    _apply_error_policy(applied.entries)
    return events


def _ship(source: SourceFile) -> None:
    """Tell the clusters that follow this process of a text it applied."""
    _state.saves += 1
    source.saved_at = _state.saves
    for shipper in list(_state.shippers):
        try:
            shipper(source)
        except Exception:  # a cluster's trouble must not stop the save here
            logger.exception("shipping the save of %s failed", source.filename)


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


def _fail_file(source: SourceFile, started: float, error: str) -> list[ReloadEvent]:
    """Every function of the file keeps its code and gets ``error``."""
    error = str(error)
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
