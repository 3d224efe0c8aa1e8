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
from . import _apply, _cascade, _copies, _decorations, _dependents, _oldcode, _read, _steps, _swap
from ._apply import Rebind
from ._notify import publish
from ._read import Compiled, Failed
from ._report import report
from ._steps import Applied, Planned

logger = logging.getLogger("hotfunc")

#: What a save reached in other hot modules, by the id of their file.
_Cascade = dict[int, _cascade.Elsewhere]


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
    cascade: _Cascade = {}
    with source.lock:
        before = source.baseline
        old: str | bytes | None = None
        if _state.shippers:  # what a worker that imported the module before this save runs
            old = before.text if before is not None else source.imported_bytes()
        try:
            events = _save(source, started, settled, cascade)
            if source.baseline is not before and _state.shippers:
                _ship(source, old)
        except Exception as exc:  # the watcher and reload() must outlive any bug
            logger.debug("reloading %s failed", source.filename, exc_info=True)
            return _fail_file(
                source,
                started,
                f"{source.path or source.filename}:1: reloading failed with "
                f"{type(exc).__name__}: {exc}; keeping the last good code",
            )
    if cascade:
        # Other files' locks are taken only once this one's is let go.
        events.extend(_follow_elsewhere(cascade))
    return events


def _save(
    source: SourceFile,
    started: float,
    settled: Callable[[bool], bool] | None,
    cascade: _Cascade,
) -> list[ReloadEvent]:
    """One save, stage by stage; a stage that fails ends it with the file's error.

    ``cascade`` gets the subclasses in other hot modules of the classes the
    save rebuilt, to rebuild after it.
    """
    saved = _read.read(source, settled)
    if saved is None:
        return []  # nothing new, or a write still under way
    if isinstance(saved, Failed):
        return _fail_file(source, started, saved)
    compiled = _read.compile_text(source, saved)
    if isinstance(compiled, Failed):
        return _fail_file(source, started, compiled)
    planned = _steps.plan(source, compiled)
    if not _state.shippers:
        applied = _steps.apply(source, compiled, planned)
    else:
        _announce(_state.saves + 1, source, compiled.compiled.text)
        try:
            applied = _steps.apply(source, compiled, planned)
        except BaseException:
            # A worker may hold the text announced: its count is never used again.
            _state.saves += 1
            _announce(_state.saves)
            raise
    reported, elsewhere = _reach(source, compiled, planned, applied, cascade)
    return _finish(source, compiled, applied, reported, elsewhere, started)


def _reach(
    source: SourceFile,
    compiled: Compiled,
    planned: Planned,
    applied: Applied,
    cascade: _Cascade,
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
            reported = _rebound(source, compiled, applied, namespace, elsewhere, cascade)
        if changed_codes:
            swapped_entries = [entry for entry, _ in changed_codes]
            updated = _oldcode.closures(changed_codes)
            applier.results.extend(_apply.Result("updated", target, 0) for target in updated)
            running = _oldcode.running(swapped_entries)
            for swap in applied.swaps:
                swap.running = running.get(id(swap.entry), 0)
            source.baseline = compiled.compiled  # the new text is where a decorator is used now
            changed, affected, calling = _decorations.calling(swapped_entries, namespace or {})
            reported.extend(
                _decorations.called_at_import(
                    changed,
                    affected,
                    compiled.compiled,
                    compiled.path,
                    applier.ran_lines,
                )
            )
            uses = _decorations.decorated(swapped_entries, calling)
            reported.extend(_decorations.nested_report(uses))
            for use in uses:
                if use.top:
                    there = cascade.setdefault(id(use.source), _cascade.Elsewhere(use.source))
                    for name in use.top:
                        there.decorated.setdefault(name, use.cause)
        reported.extend(
            _oldcode.future_annotations(
                compiled.baseline, compiled.compiled, compiled.path, applier.ran_lines
            )
        )
        # A factory that moved, or changed around a nested def that did not,
        # leaves what it made at the old lines.
        factories = bool(changed_codes) and _oldcode.has_factories(
            [entry.code for entry, _ in changed_codes]
        )
        if (planned.moved or factories) and namespace is not None:
            moved = _oldcode.moved_closures(namespace, source.filename, _other_namespaces(source))
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


def _other_namespaces(source: SourceFile) -> Callable[[], list[dict[str, object]]]:
    def others() -> list[dict[str, object]]:
        return [
            s.namespace
            for s in registry.sources()
            if s.namespace is not None and s.namespace is not source.namespace
        ]

    return others


def _rebound(
    source: SourceFile,
    compiled: Compiled,
    applied: Applied,
    namespace: dict[str, object],
    elsewhere: list[str],
    cascade: _Cascade,
    copied: dict[str, Rebind] | None = None,
) -> list[tuple[str, str]]:
    """Follow the names the save bound to new objects, and the ``copied`` names other
    saves rebound here: statements that read them, copies in other modules,
    subclasses (in ``cascade`` for the hot modules that hold them); ``compiled``
    gets the statements looked at, parsed."""
    applier = applied.applier
    follower = _dependents.Follower(applier, compiled.compiled)
    followed = {**(copied or {}), **applier.rebinds}
    compiled.compiled = follower.follow(followed, applier.ran_lines)
    rebinds = applier.rebinds
    now = _copies.exports(namespace) or set()
    new_exports = (now - (applied.exported or set())) | (now & set(rebinds))
    sources = {id(s.namespace): s for s in registry.sources() if s.namespace is not None}
    hot = [s.namespace for s in sources.values() if s.namespace is not None]
    held: dict[int, dict[str, Rebind]] = {}
    copies = _copies.rebind_copies(applier.module, namespace, rebinds, new_exports, hot, held)
    applier.results.extend(_apply.Result("rebound", copy, 0) for copy in copies)
    for namespace_id, names in held.items():
        there = sources[namespace_id]
        cascade.setdefault(id(there), _cascade.Elsewhere(there)).copies.update(names)
    rebuilt = _cascade.hot_subclasses(rebinds, source, cascade)
    subclasses = _dependents.subclasses_left(applier.module, rebinds, {applier.module}, rebuilt)
    # Statements of other modules are reported in their own file's stale
    # list, so that saving the statement there clears its report.
    others = [s for s in registry.sources() if s is not source]
    for other, key, message in _copies.readers_elsewhere(applier.module, rebinds, others):
        other.stale[key] = message
        elsewhere.append(message)  # again at each save that changes what it reads
    return [*follower.reported, *subclasses]


def _follow_elsewhere(cascade: _Cascade) -> list[ReloadEvent]:
    """Follow what a save reached in hot modules, its own included, module by module in
    import order: subclasses rebuilt, definitions a changed decorator decorated run
    again, copies' readers; and what that reaches in turn."""
    events: list[ReloadEvent] = []
    done: set[int] = set()
    order = {id(s): n for n, s in enumerate(registry.sources())}
    while cascade:
        there = cascade.pop(min(cascade, key=lambda k: order.get(k, len(order))))
        home = there.source
        subs = [sub for sub in there.subclasses if id(sub) not in done]
        done.update(map(id, subs))
        if not subs and not there.copies and not there.decorated:
            continue
        started = time.perf_counter()
        try:
            with home.lock:
                prepared = _cascade.applier_for(home)
                if prepared is None or home.namespace is None:
                    continue
                applier, compiled = prepared
                if subs or there.decorated:
                    _cascade.run_again(applier, compiled, subs, there.decorated)
                elsewhere: list[str] = []
                applied = Applied(applier, [])
                reported = _rebound(
                    home, compiled, applied, home.namespace, elsewhere, cascade, there.copies
                )
                stale = [*_dependents.keep_stale(home, home.live_text(), reported), *elsewhere]
                duration = time.perf_counter() - started
                if applier.results or stale:
                    path = compiled.path
                    events.extend(report(home, path, [], applier.results, duration, stale))
        except Exception as exc:  # what cannot be followed there stays, reported
            logger.debug("following the save in %s failed", home.filename, exc_info=True)
            logger.warning(
                "%s:1: following a save of another module here failed (%s: %s); what "
                "read its names keeps the old values until this module is saved, or a restart",
                home.path or home.filename,
                type(exc).__name__,
                exc,
            )
    return events


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


#: Earlier texts kept by file for the workers: saves older than these are
#: seldom what a worker imported.
EARLIER = 16


def _announce(count: int, source: SourceFile | None = None, text: str | None = None) -> None:
    """Tell the clusters that follow this process that save ``count`` of ``source``
    is coming, before any code of it can run here."""
    for shipper in list(_state.shippers):
        try:
            shipper.announce(count, source, text)
        except Exception:  # a cluster's trouble must not stop the save here
            logger.exception("announcing save %d to a cluster failed", count)


def _ship(source: SourceFile, old: str | bytes | None) -> None:
    """Tell the clusters that follow this process of a text it applied."""
    if old:
        import zlib

        data = old.encode("utf-8") if isinstance(old, str) else old
        source.earlier = [*source.earlier[-(EARLIER - 1) :], zlib.compress(data, 1)]
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
