"""Swap one entry to its definition in a compiled file, or move it.

The engine (``_reload``) finds which definition each entry's live code came
from and hands it here: the code is compared, and what differs is given to
every live function of the entry (code, and defaults, annotations and
docstring when the ``def`` line changed), or only the new line numbers when
the function just moved.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Mapping
from types import CodeType, FunctionType

from .._state import registry
from ..core import _codes
from ..core._entry import Entry
from ..core._wrappers import innermost, signature_reader
from . import _find, _history, _recompile, _swap
from ._live import line_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

logger = logging.getLogger("hotfunc")


def shift_functions(entry: Entry, lines: int) -> CodeType:
    """Move the functions of an entry whose def was never parsed ``lines`` down.

    Returns the new code, for the registry to record.
    """
    code = _codes.shift_code(entry._code, lines)
    _give_moved(entry, code)
    return code


def _give_moved(entry: Entry, code: CodeType) -> None:
    """Give the entry's live functions ``code``, their code at new lines."""
    refs = entry._refs
    for ref in refs if isinstance(refs, list) else (refs,):
        func = ref()
        if func is not None and func.__code__.co_freevars == code.co_freevars:
            func.__code__ = code


def locate(
    entry: Entry,
    compiled: _recompile.CompiledSource,
    baseline: _recompile.CompiledSource | None,
) -> _recompile.Located | None:
    """The entry's definition in ``compiled``, or None when the file lost it."""
    if entry._occurrence is None:
        _resolve(entry, baseline)
    assert entry._occurrence is not None
    return _find.find(compiled, entry.qualname, entry._occurrence)


def update_entry(
    entry: Entry,
    found: _recompile.Located | None,
    compiled: _recompile.CompiledSource,
    baseline: _recompile.CompiledSource | None,
    caches: Caches,
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
    moved = code_changed and (same or _codes.same_behaviour(entry.code, code))
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
            made = _codes.evaluate_definition(
                _find.node_of(compiled, found),
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


def move(entry: Entry, shift: int) -> None:
    """Give functions whose code only moved their new line numbers."""
    assert entry._origin is not None
    code = _codes.shift_code(entry._origin, shift)
    _give_moved(entry, code)
    registry.remember_code(entry, code)
    entry._shift = shift


class Caches:
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
    node = _find.node_of(compiled, found)
    return _codes.compile_explicit_super(
        node, entry.qualname, entry.source.filename, compiled.flags
    )


def _resolve(entry: Entry, baseline: _recompile.CompiledSource | None) -> None:
    """Find which ``def`` in the old text the live code came from."""
    entry._occurrence = ("", 0)
    if baseline is None:
        return
    occurrence = _find.occurrence_of(baseline, entry.qualname, entry.code.co_firstlineno)
    entry._occurrence = occurrence
    found = _find.find(baseline, entry.qualname, occurrence)
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
        # The class body binds the method's own name only after its defaults
        # and annotations ran: `def re(self) -> re.Pattern` reads the module.
        if func.__name__ not in func.__code__.co_freevars:
            names.pop(func.__name__, None)
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
