"""Old code that a swap leaves running: closures, running calls, decorations.

A swap gives a function its new code; three things made from the old code
are not that function, and a fresh import would have them new:

1. Functions a factory made from a nested ``def`` or ``lambda`` before the
   edit (``get_x = make_getter("x")``): they are found through the
   garbage collector, as the functions that refer to the module's globals,
   and get the new nested code when their closure fits it.  The heap is
   walked only when a nested body changed.
2. Calls of the function running when it is swapped finish on the old
   code: the save's line says so, with the number of calls.
3. What a decorator did at import to the definitions it decorated: the
   top-level ones are found here and run again by the cascade, as a fresh
   import would run them (a framework's registry is first told to forget
   what their earlier run registered, ``hotfunc.adapters``); those inside a
   class or a function are reported, one line naming the decorator and
   each definition, with ``file:line``.

A save that only moves a factory leaves what it made at its old lines
(``cls.__eq__ = _make_eq()`` in a class decorator): those functions are
found in the module and its classes, and get their new line numbers.
"""

from __future__ import annotations

import ast
import gc
import re
import sys
import time
from collections.abc import Callable
from types import CodeType, FunctionType

from .._state import registry
from ..core import _codes
from ..core._entry import Entry
from ..core._sourcefile import SourceFile
from ..core._wrappers import accessors, innermost, is_instance, probe
from ._recompile import CompiledSource, parse_at
from ._statements import is_main_guard, parse_block_or_none, summarize

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
    for func in _functions_in(namespace):
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
                for func in _functions_in(other)
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


def _functions_in(namespace: dict[str, object]) -> list[FunctionType]:
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


#: A decorator line: the last name of what it calls.
_DECORATOR = re.compile(r"^[ \t]*@(?:[\w.]*\.)?(\w+)", re.MULTILINE)


class Decorated:
    """A changed decorator and the definitions it decorated at import, in one file."""

    __slots__ = ("cause", "changed", "nested", "source", "top")

    def __init__(self, source: SourceFile, cause: str, changed: bool) -> None:
        self.source = source
        #: Whether the decorator's own code changed; if not, it calls code that did.
        self.changed = changed
        #: The decorator, as ``file:line module.name``.
        self.cause = cause
        #: Top-level definitions it decorates, by name: a fresh import runs them again.
        self.top: list[str] = []
        #: ``file:line name`` of those inside a class or a function: reported.
        self.nested: list[str] = []


def decorated(entries: list[Entry], calling: dict[str, FunctionType]) -> list[Decorated]:
    """Rule 3: where each changed function is used as a decorator, file by file; and,
    reported only, each function of ``calling`` (the saved module's functions that
    call a changed one, by name)."""
    candidates: list[tuple[str, FunctionType, str, str, bool]] = [
        (e.qualname, e.functions[0], e.module, f"{e.file}:{e.lineno} {e.name}", True)
        for e in entries
        if "." not in e.qualname and e.functions  # a method or a closure: no decorator
    ]
    for name, func in calling.items():
        code = func.__code__
        where = f"{code.co_filename}:{code.co_firstlineno} {func.__module__}.{name}"
        candidates.append((name, func, func.__module__, where, False))
    found: list[Decorated] = []
    sources = registry.sources()
    # The names each file uses as decorators, found once per save: a save
    # that swaps thousands of functions looks them up, and reads no text again.
    used: dict[int, set[str]] = {}
    for qualname, func, module_name, cause, changed in candidates:
        module = sys.modules.get(module_name)
        last = module_name.rpartition(".")[2]
        for source in sources:
            namespace = source.namespace
            if namespace is None or source.path is None:
                continue
            if namespace.get(qualname) is not func and not (
                module is not None and namespace.get(last) is module
            ):
                continue
            names = used.get(id(source))
            if names is None:
                names = used[id(source)] = set(_DECORATOR.findall(source.live_text()))
            if qualname in names:
                uses = Decorated(source, cause, changed)
                for line, name, top in _uses(source, qualname):
                    if top and changed:
                        uses.top.append(name)
                    else:
                        uses.nested.append(f"{source.path}:{line} {name}")
                found.append(uses)
    return found


def calling(
    entries: list[Entry], namespace: dict[str, object]
) -> tuple[set[str], set[str], dict[str, FunctionType]]:
    """The names of the top-level functions a save changed in ``namespace``'s module;
    with them, the names of the module's functions and classes that call one of them,
    however deep (a class through its methods); and those functions, by name."""
    changed = {e.qualname for e in entries if "." not in e.qualname}
    module = namespace.get("__name__")
    codes: dict[str, list[CodeType]] = {}
    functions: dict[str, FunctionType] = {}
    for name, value in list(namespace.items()):
        if type(value) is FunctionType and value.__module__ == module:
            codes[name] = [value.__code__]
            functions[name] = value
        elif is_instance(value, type) and probe(value, "__module__") == module:
            codes[name] = [f.__code__ for f in _functions_in({"": value})]
    affected = set(changed)
    grew = bool(changed)
    while grew:
        grew = False
        for name, found in codes.items():
            if name not in affected and any(affected & _names_called(c) for c in found):
                affected.add(name)
                grew = True
    return changed, affected, {n: functions[n] for n in affected - changed if n in functions}


def nested_report(uses: list[Decorated]) -> list[tuple[str, str]]:
    """(key, message) for what changed decorators decorated and are not run again:
    definitions inside classes and functions, and everything a decorator decorated
    whose own code is unchanged but calls code the save changed."""
    by_cause: dict[tuple[str, bool], list[str]] = {}
    for use in uses:
        if use.nested:
            by_cause.setdefault((use.cause, use.changed), []).extend(use.nested)
    found = []
    for (cause, changed), where in by_cause.items():
        where_text = "; ".join(where)
        if changed:
            message = (
                f"{cause.replace(' ', ': the decorator ', 1)} changed; what it decorated "
                f"inside a class or a function keeps what its old code did: {where_text} "
                "(saving the enclosing definition, or a restart, decorates it again)"
            )
        else:
            message = (
                f"{cause.replace(' ', ': the decorator ', 1)} calls code the save changed; "
                f"what it decorated at import keeps what it did then: {where_text} "
                "(saving a definition, or a restart, decorates it again)"
            )
        found.append((f"\0decorator {cause}", message))
    return found


def _uses(source: SourceFile, name: str) -> list[tuple[int, str, bool]]:
    """(line, name, whether at the top level) of each definition ``@name`` decorates in
    ``source``."""
    pattern = re.compile(
        rf"^([ \t]*)@(?:[\w.]*\.)?{re.escape(name)}\b[^\n]*\n"
        r"(?:[ \t]*(?:@|#)[^\n]*\n|[ \t]*\n)*"
        r"[ \t]*(?:async[ \t]+)?(def|class)[ \t]+(\w+)",
        re.MULTILINE,
    )
    text = source.live_text()
    return [
        (text.count(chr(10), 0, m.start(2)) + 1, m.group(3), not m.group(1))
        for m in pattern.finditer(text)
    ]


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


def called_at_import(
    changed: set[str], affected: set[str], compiled: CompiledSource, path: str, ran: set[int]
) -> list[tuple[str, str]]:
    """(statement text, message) for each unchanged top-level statement of the saved
    module that calls, when it runs, a function whose code the save changed, directly
    or through the module's other functions (``affected``, from :func:`calling`):
    ``Attribute = _add_hash(Attribute)``, ``app = create_app()``.

    A fresh import would run it with the new code; running it again could
    register or open something twice, so it is named, with ``file:line``.
    Decorators are the cascade's business, and function bodies run when called.
    """
    if not changed:
        return []
    lines = compiled.lines
    pattern = re.compile(rf"\b({'|'.join(map(re.escape, sorted(affected)))})\s*\(")
    starts: set[int] = set()
    for number, line in enumerate(lines, 1):
        if pattern.search(line):
            start = _statement_start(lines, number)
            if start is not None and start not in ran:
                starts.add(start)
    found: list[tuple[str, str]] = []
    for start in sorted(starts):
        end = _statement_end(lines, start)
        statement = "".join(lines[start - 1 : end])
        try:
            node = parse_at(statement, start).body[0]
        except (SyntaxError, IndexError):  # not where a statement starts, after all
            continue
        if is_main_guard(node):
            continue
        calls = sorted(_called_at_import(node) & affected)
        if calls:
            found.append(
                (
                    statement,
                    f"{path}:{start}: {summarize(node)} calls {', '.join(calls)} when "
                    f"it runs, and the save changed {', '.join(sorted(changed))}; it is not "
                    "run again, so what it made at import stays (saving the statement, or a "
                    "restart, runs it with the new code)",
                )
            )
    return found


#: A line that does not start a top-level statement though it starts at column 0.
_CONTINUATION = re.compile(r"[ \t)\]}#]|$|\n")


def _statement_start(lines: list[str], number: int) -> int | None:
    """The first line of the top-level statement around line ``number`` when that
    statement runs code at import: not a ``def`` (its body runs when called)."""
    for at in range(number, 0, -1):
        line = lines[at - 1]
        if _CONTINUATION.match(line):
            continue
        if line.startswith(("def ", "async def ", "@")):
            return None
        return at
    return None


def _statement_end(lines: list[str], start: int) -> int:
    """The last line before the next top-level statement after ``start``."""
    end = start
    for at in range(start + 1, len(lines) + 1):
        if not _CONTINUATION.match(lines[at - 1]):
            break
        if lines[at - 1].strip() and not lines[at - 1].lstrip().startswith("#"):
            end = at
    return end


def _names_called(code: CodeType) -> set[str]:
    """The global names a function's code, and the code nested in it, refer to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names_called(const)
    return names


def _called_at_import(node: ast.stmt) -> set[str]:
    """Names called by ``node`` when it runs as a top-level statement: not inside the
    bodies of the functions it defines, nor in their decorators."""
    found: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if isinstance(item, ast.Lambda):
                continue
            stack.extend(d for d in item.args.defaults)
            stack.extend(d for d in item.args.kw_defaults if d is not None)
            continue
        if isinstance(item, ast.ClassDef):
            stack.extend([*item.bases, *(k.value for k in item.keywords), *item.body])
            continue
        if isinstance(item, ast.Call) and isinstance(item.func, ast.Name):
            found.add(item.func.id)
        stack.extend(ast.iter_child_nodes(item))
    return found
