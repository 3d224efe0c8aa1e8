"""What is hot and what happened: entries, their versions, and reload events.

Plain records: the registry (``_registry``, its one instance in ``_state``)
holds them, and nothing here is global state.
"""

from __future__ import annotations

import time
import weakref
from types import CodeType, FunctionType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
    from typing import Any

    from ..engine._recompile import Definition, Occurrence
    from ._sourcefile import SourceFile


class ReloadEvent:
    """What one save did to one function or one top-level statement.

    ``action`` is one of:

    - ``"swapped"``: a hot function got new code (``entry`` is set);
    - ``"recovered"``: a function's earlier error went away;
    - ``"ran"``: a new or changed statement ran (an import, an assignment...);
    - ``"added"``: a new function, class or method was defined, and is hot;
    - ``"redefined"``: a definition whose decorators changed ran again;
    - ``"rebuilt"``: a class was made anew (its header or generated fields changed);
    - ``"skipped"``: an ``if __name__ == "__main__":`` block that changed;
    - ``"failed"``: any of these went wrong; ``error`` says why, with ``file:line``.

    ``target`` names the function (``module.qualname``) or summarises the
    statement (``import json``).  ``ok`` is false only for failures.
    ``duration`` is in seconds and covers the whole reload of the file;
    ``version`` is the entry's version after it (0 without an entry).
    """

    __slots__ = (
        "action",
        "duration",
        "entry",
        "error",
        "file",
        "line",
        "ok",
        "target",
        "version",
    )

    def __init__(
        self,
        entry: Entry | None,
        ok: bool,
        error: str | None,
        duration: float,
        version: int,
        *,
        action: str | None = None,
        target: str | None = None,
        file: str | None = None,
        line: int = 0,
    ) -> None:
        self.entry = entry
        self.ok = ok
        self.error = error
        self.duration = duration
        self.version = version
        self.action = action or ("swapped" if ok else "failed")
        self.target = target or (entry.name if entry is not None else "")
        self.file = file or (entry.file if entry is not None else "")
        self.line = line or (entry.lineno if entry is not None else 0)

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"error={self.error!r}"
        what = f"{self.target} v{self.version}" if self.entry is not None else repr(self.target)
        return f"<ReloadEvent {self.action} {what} {state} {self.duration * 1e3:.1f} ms>"


class Entry:
    """One hot function definition, and every live function object made from it.

    A closure factory called ten times makes ten function objects from one
    ``def``; they share one entry, and a reload swaps them all.
    """

    # Kept small: one entry per hot function, and large code bases have
    # thousands.  What can be derived (name, file, line) is.
    __slots__ = (
        "__weakref__",
        "_caches",
        "_code",
        "_definition",
        "_definitions",
        "_history",
        "_occurrence",
        "_origin",
        "_refs",
        "_shift",
        "error",
        "module",
        "qualname",
        "reloaded_at",
        "source",
        "version",
    )

    def __init__(self, func: FunctionType, source: SourceFile) -> None:
        self.module: str = func.__module__
        self.qualname: str = func.__code__.co_qualname
        #: 0 at registration, +1 for each swap that changed what the function does.
        self.version = 0
        #: ``time.time()`` of the last swap, or None.
        self.reloaded_at: float | None = None
        #: None, or one line naming ``file:line`` and what went wrong.
        self.error: str | None = None
        self.source = source
        self._code: CodeType = func.__code__
        # One weak reference, or a list of them once a factory makes more.
        self._refs: weakref.ref[FunctionType] | list[weakref.ref[FunctionType]] = weakref.ref(func)
        self._caches: list[weakref.ref[object]] | None = None
        # Resolved against the file's text on the first reload: which def of
        # this qualname it is, and the compiled definition the live code matches.
        self._occurrence: Occurrence | None = None
        self._definition: Definition | None = None
        # The compiled code object the live code equals before any line shift,
        # the definitions of the block it came from, and the shift: an edit
        # elsewhere in the file settles the entry with one lookup.
        self._origin: CodeType | None = None
        self._definitions: tuple[Definition, ...] | None = None
        self._shift = 0
        # Versions kept for history, diff and rollback; made on the first swap.
        self._history: deque[Version] | None = None

    @property
    def name(self) -> str:
        """``module.qualname``, the key for ``registry["..."]``."""
        return f"{self.module}.{self.qualname}"

    @property
    def file(self) -> str:
        """Absolute real path of the source file, or the pseudo file name
        (``<stdin>``) of a function that has none."""
        return self.source.path or self.source.filename

    @property
    def lineno(self) -> int:
        """Line of the ``def`` (or its first decorator) in the current text."""
        return self._code.co_firstlineno

    @property
    def code(self) -> CodeType:
        """The code object new calls run."""
        return self._code

    @property
    def history(self) -> list[Version]:
        """The kept versions, oldest first: source text, time, and what ran.

        Empty until the first swap; then the imported version comes first.
        At most the last 20 are kept.
        """
        return list(self._history or ())

    def _ref_list(self) -> list[weakref.ref[FunctionType]]:
        refs = self._refs
        return refs if isinstance(refs, list) else [refs]

    @property
    def functions(self) -> list[FunctionType]:
        """The live function objects of this definition."""
        live = {id(f): f for f in (r() for r in self._ref_list()) if f is not None}
        return list(live.values())

    def holds(self, func: FunctionType) -> bool:
        return any(r() is func for r in self._ref_list())

    def add(self, func: FunctionType) -> None:
        # CPython hands out one shared weakref per object, so an identity test
        # catches @hot applied twice in a row without scanning every closure.
        ref = weakref.ref(func)
        refs = self._ref_list()
        if refs[-1] is ref:
            return
        if len(refs) >= 8 and len(refs) & (len(refs) - 1) == 0:
            # A factory may make and drop many closures: forget the dead ones
            # whenever the list doubles, so it never grows without bound.
            refs = [r for r in refs if r() is not None]
        refs.append(ref)
        self._refs = refs

    def add_cache(self, wrapper: object) -> None:
        caches = self._caches or []
        if not any(r() is wrapper for r in caches):
            caches.append(weakref.ref(wrapper))
        self._caches = caches

    def caches(self) -> list[object]:
        return [c for c in (r() for r in self._caches or ()) if c is not None]

    def alive(self) -> bool:
        return any(r() is not None for r in self._ref_list())

    def __repr__(self) -> str:
        state = "ok" if self.error is None else f"error: {self.error}"
        return f"<hotfunc entry {self.name} v{self.version} {self.file}:{self.lineno} {state}>"

    def describe(self) -> str:
        """The entry and its kept versions, as text for the REPL."""
        status = "ok" if self.error is None else f"error: {self.error}"
        lines = [
            f"{self.name}  v{self.version}  {self.file}:{self.lineno}  {status}",
            f"  {len(self.functions)} live function object(s)",
        ]
        for version in reversed(self.history):
            lines.append(f"  {version!r}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython shows the entry with its kept versions."""
        printer.text(self.describe())


class Version:
    """One version of a hot function: its source text and what ran."""

    __slots__ = (
        "annotations",
        "at",
        "code",
        "defaults",
        "doc",
        "kwdefaults",
        "restored",
        "source",
        "type_params",
        "version",
    )

    def __init__(self, version: int, at: float | None, source: str, func: FunctionType) -> None:
        self.version = version
        #: ``time.time()`` when it went live; None for the version imported.
        self.at = at
        #: The ``def`` statement's text, decorators included ("" if unknown).
        self.source = source
        #: The version this one restored, for a rollback.
        self.restored: int | None = None
        self.code: CodeType = func.__code__
        self.defaults = func.__defaults__
        self.kwdefaults = func.__kwdefaults__
        self.doc = func.__doc__
        self.annotations = dict(func.__annotations__)
        self.type_params: tuple[Any, ...] = getattr(func, "__type_params__", ())

    def __repr__(self) -> str:
        when = "imported" if self.at is None else time.strftime("%H:%M:%S", time.localtime(self.at))
        note = f", rollback to v{self.restored}" if self.restored is not None else ""
        return f"<version {self.version} ({when}{note})>"
