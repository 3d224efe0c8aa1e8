"""Old code that a swap leaves running: closures, running calls, annotations.

A swap gives a function its new code; what was made from the old code is
not that function, and a fresh import would have it new:

1. Functions a factory made from a nested ``def`` or ``lambda`` before the
   edit (``get_x = make_getter("x")``): they are found through the
   garbage collector, as the functions that refer to the module's globals,
   and get the new nested code when their closure fits it.  The heap is
   walked only when a nested body changed.
2. Calls of the function running when it is swapped finish on the old
   code: the save's line says so, with the number of calls.
3. Annotations evaluated at import, when a save adds or removes ``from
   __future__ import annotations``: reported.

A save that only moves a factory, or changes it around a nested ``def``
that stays the same, leaves what it made at its old lines (``cls.__eq__ =
_make_eq()`` in a class decorator): those functions are found in the module,
its classes and, when it has factories, the other hot modules, and get
their new line numbers.  What decorators and top-level statements made at
import by calling changed code is ``_decorations``'.
"""

from __future__ import annotations

import ast
import gc
import sys
import time
from collections.abc import Callable
from types import CodeType, FunctionType

from ..core import _codes
from ..core._entry import Entry
from ..core._wrappers import accessors, innermost, is_instance
from ._recompile import CompiledSource
from ._statements import parse_block_or_none

#: Nested code a function makes and drops within one call.
_TRANSIENT = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")


def _nested(code: CodeType) -> dict[str, list[CodeType]]:
    """The nested function code objects of ``code``, by qualname, in order."""
    found: dict[str, list[CodeType]] = {}
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, CodeType):
                if const.co_name not in _TRANSIENT:
                    found.setdefault(const.co_qualname, []).append(const)
                stack.append(const)
    return found


def closures(swapped: list[tuple[Entry, CodeType]]) -> list[str]:
    """Rule 1: give closures made from old nested code the new code.

    ``swapped`` holds each entry swapped by the save with the code it had.
    Returns each qualname given new code, with how many functions got it.
    """
    changed: dict[tuple[str, str], list[tuple[CodeType, CodeType]]] = {}
    spaces: dict[int, dict[str, object]] = {}
    for entry, old in swapped:
        new_nested = _nested(entry.code)
        for qualname, olds in _nested(old).items():
            news = new_nested.get(qualname, [])
            if len(news) != len(olds):
                continue
            pairs = [(o, n) for o, n in zip(olds, news, strict=True) if o != n]
            if any(not _codes.same_behaviour(o, n) for o, n in pairs):
                changed[(entry.source.filename, qualname)] = pairs
                for func in entry.functions[:1]:
                    spaces[id(func.__globals__)] = func.__globals__
    if not changed:
        return []
    done: dict[str, int] = {}
    for made in gc.get_referrers(*spaces.values()):
        if type(made) is not FunctionType:
            continue
        code = made.__code__
        found = changed.get((code.co_filename, code.co_qualname))
        if not found:
            continue
        new = _counterpart(code, found)
        if new is not None and new is not code and new.co_freevars == code.co_freevars:
            made.__code__ = new
            done[code.co_qualname] = done.get(code.co_qualname, 0) + 1
    return [f"{q} ({n} made before)" for q, n in sorted(done.items())]


def moved_closures(
    namespace: dict[str, object],
    filename: str,
    elsewhere: Callable[[], list[dict[str, object]]] | None = None,
) -> list[str]:
    """Give the functions a factory of ``filename`` made their new line numbers.

    Looks where a factory's functions are kept: the module's globals, its
    classes' dicts (methods a class decorator made), and the accessors of
    their properties; when the module has factories, the same places of
    ``elsewhere()``, the other hot modules (a decorator of this module that
    gave their classes methods); not the whole heap, which a save that
    only moves lines should not pay for.  A function is given the nested
    code of its factory's live code that runs the same bytecode, when
    exactly one does.  Returns each qualname moved, with how many functions.
    """
    made: list[FunctionType] = []
    factories: dict[str, CodeType] = {}
    for func in functions_in(namespace):
        code = func.__code__
        if code.co_filename != filename:
            continue
        if "<locals>" in code.co_qualname:
            made.append(func)
        else:
            factories[code.co_qualname] = code
    if elsewhere is not None and any(
        "<locals>" in q for code in factories.values() for q in _nested(code)
    ):
        for other in elsewhere():
            made.extend(
                func
                for func in functions_in(other)
                if func.__code__.co_filename == filename and "<locals>" in func.__code__.co_qualname
            )
    done: dict[str, int] = {}
    for func in {id(f): f for f in made}.values():
        code = func.__code__
        factory = factories.get(code.co_qualname.rpartition(".<locals>.")[0])
        if factory is None:
            continue
        same = [
            nested
            for nested in _nested(factory).get(code.co_qualname, ())
            if nested.co_freevars == code.co_freevars and _codes.same_behaviour(nested, code)
        ]
        if len(same) == 1 and same[0].co_firstlineno != code.co_firstlineno:
            func.__code__ = same[0]
            done[code.co_qualname] = done.get(code.co_qualname, 0) + 1
    return [f"{q} ({n} made before)" for q, n in sorted(done.items())]


def has_factories(codes: list[CodeType]) -> bool:
    """Whether one of ``codes`` makes functions: a nested ``def`` or ``lambda``."""
    return any("<locals>" in q for code in codes for q in _nested(code))


def functions_in(namespace: dict[str, object]) -> list[FunctionType]:
    """The plain functions kept in ``namespace`` and in the classes it holds, nested too."""
    found: list[FunctionType] = []
    seen: set[int] = set()
    places: list[object] = [namespace]
    while places:
        place = places.pop()
        try:
            values = list(place.values()) if isinstance(place, dict) else list(vars(place).values())
        except Exception:  # a class whose __dict__ cannot be read
            continue
        for value in values:
            if type(value) is FunctionType:
                found.append(value)
            elif is_instance(value, type) and id(value) not in seen:
                seen.add(id(value))
                places.append(value)
            else:  # a property's accessors, a static or class method's function
                for target in accessors(value):
                    func, _ = innermost(target)
                    if func is not None:
                        found.append(func)
    return found


def _counterpart(code: CodeType, pairs: list[tuple[CodeType, CodeType]]) -> CodeType | None:
    if len(pairs) == 1:
        return pairs[0][1]
    for old, new in pairs:
        if _codes.same_behaviour(old, code):
            return new
    return None


def running(entries: list[Entry]) -> dict[int, int]:
    """Rule 2: how many calls of each entry run old code now, by ``id(entry)``.

    Other threads' stacks are read while no other thread runs: CPython 3.11
    crashed once in this suite (a segmentation fault) reading a frame of a
    thread that went on meanwhile.  A switch another thread is owed is let
    happen first, at the usual interval; then the interval is raised for the
    walk, which takes microseconds, so that none comes in its middle.  A
    build without the GIL cannot keep the threads still, and is not walked:
    the count is a note, never worth the process.
    """
    keys = {(e.source.filename, e.qualname): e for e in entries}
    counts: dict[int, int] = {}
    if not keys or not getattr(sys, "_is_gil_enabled", lambda: True)():
        return counts
    time.sleep(0)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(max(interval, _HOLD))
    try:
        for frame in list(sys._current_frames().values()):
            while frame is not None:
                code = frame.f_code
                entry = keys.get((code.co_filename, code.co_qualname))
                if entry is not None and code is not entry.code:
                    counts[id(entry)] = counts.get(id(entry), 0) + 1
                frame = frame.f_back  # type: ignore[assignment]
    finally:
        sys.setswitchinterval(interval)
    return counts


#: The switch interval during the walk of the stacks, in seconds: far longer than it takes.
_HOLD = 0.05


#: The ``__future__`` flag that makes annotations strings (PEP 563).
_ANNOTATIONS = __import__("__future__").annotations.compiler_flag


def future_annotations(
    baseline: CompiledSource | None, compiled: CompiledSource, path: str, ran: set[int]
) -> list[tuple[str, str]]:
    """(key, message) when a save added or removed ``from __future__ import annotations``.

    Every annotation in the file now compiles to another form, but the
    definitions the save did not run again keep the ``__annotations__`` they
    got at import (and what a dataclass made of them).  They are named.
    """
    if baseline is None or not (baseline.flags ^ compiled.flags) & _ANNOTATIONS:
        return []
    names: list[str] = []
    line = 1
    for block in compiled.blocks:
        node = parse_block_or_none(compiled, block)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            line = node.lineno
        if block.start in ran or not isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            continue
        if any(_annotated(n) for n in ast.walk(node)):
            names.append(node.name)
    if not names:
        return []
    added = "added" if compiled.flags & _ANNOTATIONS else "removed"
    return [
        (
            "\0future annotations",
            f"{path}:{line}: 'from __future__ import annotations' was {added}; the "
            f"definitions the save did not run again keep their annotations as they were "
            f"evaluated at import: {', '.join(names)} (saving a definition, or a restart, "
            "gives it the new form)",
        )
    ]


def _annotated(node: ast.AST) -> bool:
    if isinstance(node, ast.AnnAssign):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
        return node.returns is not None or any(a.annotation is not None for a in every)
    return False
