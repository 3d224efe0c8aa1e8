"""What runs at import and calls changed code: decorators, and statements that call.

A save that changes a function's code changes what the code that called it
at import made.  A fresh import would run that code again:

- the top-level definitions a changed decorator decorated are found here
  and run again by the cascade (a framework's registry is first told to
  forget what their earlier run registered, ``hotfunc.adapters``); those
  inside a class or a function are reported, one line naming the decorator
  and each definition, with ``file:line``;
- a decorator whose own code did not change but calls, through the module's
  functions and classes, code that did, and an unchanged top-level
  statement that calls such code at import, are reported with
  ``file:line``, not run: a call may have side effects.
"""

from __future__ import annotations

import ast
import re
import sys
from types import CodeType, FunctionType

from .._state import registry
from ..core._entry import Entry
from ..core._sourcefile import SourceFile
from ..core._wrappers import is_instance, probe
from ._oldcode import functions_in
from ._recompile import CompiledSource, parse_at
from ._statements import is_main_guard, summarize

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
            codes[name] = [f.__code__ for f in functions_in({"": value})]
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
