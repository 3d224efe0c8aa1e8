"""What a save's rebound names reach: statements that read them, and copies.

A fresh import derives much from each module-level name.  When a save binds
a name to a new object (a constant, a rebuilt class, a definition that ran
again, a new ``__all__``), what was derived from the old object is brought to
what a fresh import gives, or reported.  The rules, in the order
``docs/how-it-works.md`` states them:

1. An unchanged statement after the one that rebound a name, which modifies
   what the name holds (``X = deco(X)``, ``X.attr = ...``, ``X[k] = ...``, a
   call that takes ``X``), runs again with the new object: it is part of
   building it.
2. An unchanged statement after it that reads the name runs again when it
   calls nothing: an assignment whose value and targets are names,
   literals, operators, subscripts, attribute reads, f-strings and
   comprehensions over those.  A class body's such assignments are set on
   the live class; a ``def``'s such defaults are given to the live function.
3. Any other statement that reads it is reported, never run: ``file:line``,
   the name, and that it was not run again.  The report stays in the
   registry's stale list until the statement's text changes or the file is
   imported afresh.
4. Other modules' copies, ``from m import NAME`` and ``from m import *``,
   are rebound to the new object, and ``import *`` gains the names newly
   exported.  A copy is one the importing module's own text imports, or
   an object ``m`` itself made (a class or function whose ``__module__`` is
   ``m``): another module's ``LIMIT = 3`` is left alone.
5. Subclasses of a rebuilt class, in modules that were not saved, keep the
   old base: reported.
"""

from __future__ import annotations

import ast
import bisect
import heapq
import itertools
import re
import sys
from types import FunctionType

from .._state import registry, settings
from ..core import _codes, _text
from ..core._sourcefile import SourceFile
from ..core._wrappers import innermost, is_instance, probe
from . import _incremental, _plan, _recompile, _statements
from ._apply import Applier, Rebind
from ._live import MISSING, generated

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


# -- what a statement reads -------------------------------------------------------


def reads(node: ast.AST, lazy_annotations: bool) -> set[str]:
    """The names ``node`` reads when it runs: not inside function bodies or lambdas."""
    names: set[str] = set()
    _reads(node, names, lazy_annotations)
    return names


def _reads(node: ast.AST, out: set[str], lazy: bool) -> None:
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Load):
            out.add(node.id)
        return
    if isinstance(node, _DEFS):
        parts: list[ast.AST] = [*node.decorator_list, *_defaults(node.args)]
        if not lazy:
            parts.extend(_annotations(node))
        for part in parts:
            _reads(part, out, lazy)
        return
    if isinstance(node, ast.Lambda):
        for part in _defaults(node.args):
            _reads(part, out, lazy)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        out.add(node.target.id)
    for child in ast.iter_child_nodes(node):
        _reads(child, out, lazy)


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every.extend(a for a in (args.vararg, args.kwarg) if a is not None)
    found = [a.annotation for a in every if a.annotation is not None]
    return [*found, node.returns] if node.returns is not None else found


# Expressions that run no code of the application's own choosing, as far as
# the rule goes: operators and attribute reads may, through dunder methods,
# and that is accepted, as an import would run them too.
_CALL_FREE = (
    ast.Name,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Starred,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
)


def call_free(node: ast.AST) -> bool:
    """Whether ``node`` is built from names, literals, operators and the like alone."""
    return all(isinstance(n, _CALL_FREE) for n in ast.walk(node))


def _assignment(node: ast.stmt) -> tuple[list[ast.expr], ast.expr] | None:
    """The targets and value of a plain or annotated assignment with a value."""
    if isinstance(node, ast.Assign):
        return list(node.targets), node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target], node.value
    return None


def rerunnable(node: ast.stmt) -> bool:
    """Rule 2: an assignment that calls nothing."""
    parts = _assignment(node)
    return parts is not None and all(call_free(p) for p in (*parts[0], parts[1]))


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def modifies(node: ast.stmt, names: set[str], built: set[str]) -> str | None:
    """Rule 1: the name of ``names`` whose object ``node`` builds on, or None.

    ``built`` names hold classes and functions: ``X = deco(X)`` and a call
    that takes ``X`` build on those, not on a constant passed along.
    """
    targets: list[ast.expr] = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        parts = _assignment(node)
        targets = parts[0] if parts is not None else [node.target]  # type: ignore[union-attr]
    for target in targets:
        root = _root(target)
        if root in names and not isinstance(target, ast.Name):
            return root
        if root in built and root in reads(node, True):
            return root
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        root = _root(call.func) if not isinstance(call.func, ast.Name) else None
        if root in names:
            return root
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            if isinstance(arg, ast.Name) and arg.id in built:
                return arg.id
    return None


# -- statements of the saved file -------------------------------------------------


class Follower:
    """Carries rules 1 to 3 through one save of one file, in file order."""

    def __init__(self, applier: Applier, compiled: _recompile.CompiledSource) -> None:
        self.applier = applier
        self.compiled = compiled
        self.filename = applier.filename
        # Annotations wait until read: with the future import, and from 3.14 on (PEP 649).
        self.lazy = bool(compiled.flags & _ANNOTATIONS) or sys.version_info >= (3, 14)
        self.reported: list[tuple[str, str]] = []
        self._offsets: list[int] | None = None
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()

    def follow(self, rebinds: dict[str, Rebind], ran: set[int]) -> _recompile.CompiledSource:
        """Act on every statement after a rebinding that reads the rebound name.

        ``ran`` holds the first lines of the statements this save ran.
        Returns the compiled file, with the statements looked at parsed.
        """
        changed: dict[str, int] = {}
        for name, rebind in rebinds.items():
            self._changed(changed, name, rebind.line)
        done: set[int] = set(ran)
        while self._heap:
            line, _, _ = heapq.heappop(self._heap)
            block = self._block_at(line)
            if block is None or block.start in done or block.live is not None:
                continue
            done.add(block.start)
            try:
                node = _statements.parse_block(self.compiled, block)
                self._one(block, node, changed)
            except (SyntaxError, ValueError, IndexError, RecursionError, MemoryError) as exc:
                # A statement too deep for the ast module, say: it is not
                # looked at, and the report says so rather than guess.
                text = block.text(self.compiled.lines)
                self.reported.append(
                    (
                        text,
                        f"{self.applier.path}:{block.start}: could not tell whether this "
                        f"statement reads a name the save changed ({type(exc).__name__}); "
                        "it was not run again",
                    )
                )
        return self.compiled

    def _changed(self, changed: dict[str, int], name: str, line: int) -> None:
        if name in changed and changed[name] <= line:
            return
        changed[name] = line
        for hit in self._mentions(name, line):
            heapq.heappush(self._heap, (hit, next(self._order), name))

    def _mentions(self, name: str, after: int) -> list[int]:
        """Lines after ``after`` where ``name`` stands as a word."""
        text = self.compiled.text
        offsets = self._line_offsets()
        start = offsets[after] if after < len(offsets) else len(text)
        # str.find, not a pattern per name: a rebuild that follows a thousand
        # classes would compile a thousand patterns, past re's cache.
        hits = []
        at = text.find(name, start)
        while at != -1:
            end = at + len(name)
            before = text[at - 1] if at else " "
            following = text[end] if end < len(text) else " "
            if not _word(before) and before != "." and not _word(following):
                hits.append(bisect.bisect_right(offsets, at))
            at = text.find(name, end)
        return hits

    def _line_offsets(self) -> list[int]:
        if self._offsets is None:
            self._offsets = _text.line_starts(self.compiled.lines)
        return self._offsets

    def _block_at(self, line: int) -> _recompile.Block | None:
        blocks = self.compiled.blocks
        index = bisect.bisect_right([b.start for b in blocks], line) - 1
        if index < 0 or blocks[index].end < line:
            return None
        if blocks[index].opaque:
            self.compiled = _incremental.open_at(self.compiled, line, self.filename)
            return self._block_at(line)
        return blocks[index]

    def _one(self, block: _recompile.Block, node: ast.stmt, changed: dict[str, int]) -> None:
        read = {n for n in reads(node, self.lazy) if n in changed and changed[n] < block.start}
        if not read:
            return
        name = sorted(read)[0]
        built = {n for n in read if self._built(n)}
        modified = modifies(node, set(read), built)
        if modified is not None or rerunnable(node):
            self._rerun(block, node, changed, modified or name)
        elif isinstance(node, ast.ClassDef):
            self._class(block, node, read, changed)
        elif isinstance(node, _DEFS):
            self._definition(block, node, read)
        elif settings.run_readers:
            self._rerun(block, node, changed, name)  # opted in: calls and all
        else:
            self._report(block, node, name, "it calls code")

    def _is_class(self, name: str) -> bool:
        return is_instance(self.applier.namespace.get(name), type)

    def _rebuild(
        self, block: _recompile.Block, node: ast.ClassDef, base: str, changed: dict[str, int]
    ) -> None:
        """Run again, as a fresh import would, a class statement whose base was rebuilt."""
        action = _plan.Action(_plan.REBUILD, block, node, None)
        action.summary = f"{node.name} (its base {base} was rebuilt)"
        self._run_again(action, changed)

    def _built(self, name: str) -> bool:
        value = self.applier.namespace.get(name)
        return is_instance(value, type) or type(value) is FunctionType

    def _rerun(
        self, block: _recompile.Block, node: ast.stmt, changed: dict[str, int], name: str
    ) -> None:
        action = _plan.Action(_plan.RUN, block, node, None)
        action.summary = f"{action.summary} (reads {name})"
        self._run_again(action, changed)

    def _run_again(self, action: _plan.Action, changed: dict[str, int]) -> None:
        """Run a statement again; the names it binds anew are followed in turn."""
        before = dict(self.applier.namespace)
        block = action.block
        if not self.applier.run(action):
            block.live = ""  # pending: retried at every save until it runs
            return
        for key, value in self.applier.namespace.items():
            if before.get(key, MISSING) is not value:
                self._changed(changed, key, block.start)

    def _class(
        self, block: _recompile.Block, node: ast.ClassDef, read: set[str], changed: dict[str, int]
    ) -> None:
        header: set[str] = set()
        for part in [*node.decorator_list, *node.keywords]:
            header |= reads(part, self.lazy)
        bases: set[str] = set()
        for part in node.bases:
            bases |= reads(part, self.lazy)
        name = sorted(read)[0]
        if bases & read and not header & read and all(self._is_class(n) for n in bases & read):
            self._rebuild(block, node, sorted(bases & read)[0], changed)
            return
        header |= bases
        if header & read:
            self._report(block, node, sorted(header & read)[0], "its decorators or bases call code")
            return
        members = [m for m in node.body if reads(m, self.lazy) & read]
        cls = self.applier.namespace.get(node.name)
        if not members or not is_instance(cls, type):
            return
        reason = generated(cls)  # type: ignore[arg-type]
        runnable = [m for m in members if rerunnable(m)]
        if reason is not None or len(runnable) != len(members):
            why = f"it is {reason}, built from its body" if reason else "its body calls code"
            self._report(block, node, name, why)
            return
        member_list = [
            _plan.Member(_plan.RUN, m, _statements.slot(m), field=True) for m in runnable
        ]
        action = _plan.Action(_plan.MEMBERS, block, node, None, member_list)
        self.applier.run(action)

    def _definition(
        self, block: _recompile.Block, node: ast.FunctionDef | ast.AsyncFunctionDef, read: set[str]
    ) -> None:
        name = sorted(read)[0]
        decorators: set[str] = set()
        for decorator in node.decorator_list:
            decorators |= reads(decorator, self.lazy)
        signature = _defaults(node.args) + ([] if self.lazy else _annotations(node))
        func, _ = innermost(self.applier.namespace.get(node.name))
        if decorators & read or not all(call_free(p) for p in signature) or func is None:
            self._report(block, node, name, "its decorators call code")
            return
        try:
            made = _codes.evaluate_definition(
                node, self.filename, self.compiled.flags, self.applier.namespace, {}
            )
        except Exception as exc:
            self._report(block, node, name, f"its defaults raised {type(exc).__name__}")
            return
        func.__defaults__, func.__kwdefaults__ = made.__defaults__, made.__kwdefaults__
        func.__annotations__ = made.__annotations__
        self.applier.note_ran(f"{node.name} defaults (reads {name})", node.lineno)

    def _report(self, block: _recompile.Block, node: ast.stmt, name: str, why: str) -> None:
        summary = _statements.summarize(node)
        text = block.text(self.compiled.lines)
        rebind = self.applier.rebinds.get(name)
        change = "changed" if rebind is None else f"changed{_to_value(rebind.new)}"
        self.reported.append(
            (
                text,
                f"{self.applier.path}:{block.start}: {summary!r} reads {name!r}, which this "
                f"save {change}, and was not run again because {why}; it still holds what "
                "it made from the old value (save the statement to run it again, or restart)",
            )
        )


#: Values a report names, so that each save's report says which value it is about.
_NAMED = (str, bytes, int, float, complex, bool, type(None))


def _to_value(value: object) -> str:
    """`` to VALUE`` for a short constant of the standard library, else ""."""
    if type(value) not in _NAMED and not (
        type(value) is tuple and all(type(v) in _NAMED for v in value)
    ):
        return ""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        return ""
    return f" to {text}" if len(text) <= 40 else ""


_ANNOTATIONS = __import__("__future__").annotations.compiler_flag


def keep_stale(source: SourceFile, text: str, reported: list[tuple[str, str]]) -> list[str]:
    """Record the statements reported stale; drop those whose text is gone.

    A report about no statement of the file (a key starting with NUL: a
    decorator's or a base class's) stays for the life of the process.
    Returns the messages to log: every report of this save, once, also one
    that an earlier save gave already.  Each is about what this save
    changed, and the value the user now debugs is this save's.
    """
    stale = {t: m for t, m in source.stale.items() if t.startswith("\0") or t in text}
    stale.update(reported)
    source.stale = stale
    return list(dict.fromkeys(m for _, m in reported))


def rebuilt_subclasses(rebinds: dict[str, Rebind]) -> list[tuple[str, type]]:
    """Each subclass of a class the save rebuilt, with the rebuilt class's name."""
    found: list[tuple[str, type]] = []
    for name, rebind in rebinds.items():
        old = rebind.old
        if not (is_instance(old, type) and is_instance(rebind.new, type)):
            continue
        try:
            subclasses: list[type] = type.__subclasses__(old)  # type: ignore[arg-type]
        except Exception:  # a foreign metaclass's
            continue
        found.extend((name, sub) for sub in subclasses)
    return found


def subclasses_left(
    module: str,
    rebinds: dict[str, Rebind],
    saved: set[str],
    rebuilt: set[int] | frozenset[int] = frozenset(),
) -> list[tuple[str, str]]:
    """Rule 5: (statement text key, message) for subclasses of a rebuilt class elsewhere
    that are not ``rebuilt`` (by id): those no hot module of their own defines."""
    found: list[tuple[str, str]] = []
    for name, sub in rebuilt_subclasses(rebinds):
        owner = probe(sub, "__module__")
        if owner in saved or id(sub) in rebuilt or probe(sub, "__qualname__") is None:
            continue
        where = _where_class(sub)
        found.append(
            (
                f"\0subclass {owner}.{sub.__qualname__} of {module}.{name}",
                f"{where}: class {sub.__qualname__!r} still subclasses the old "
                f"{module}.{name}, which this save rebuilt; it gets the new one when "
                "its own module is saved, or at a restart",
            )
        )
    return found


def _where_class(cls: type) -> str:
    module = sys.modules.get(str(probe(cls, "__module__")))
    path = probe(module, "__file__") if module is not None else None
    if not isinstance(path, str):
        return f"<{probe(cls, '__module__')}>"
    line = probe(cls, "__firstlineno__")  # Python 3.13
    if not isinstance(line, int):
        line = 1
        head = re.compile(rf"^[ \t]*class[ \t]+{re.escape(cls.__name__)}\b", re.MULTILINE)
        try:
            text = registry.read_source(path).decode("utf-8", "replace")
        except OSError:
            text = ""
        match = head.search(text)
        if match is not None:
            line = text.count("\n", 0, match.start()) + 1
    return f"{path}:{line}"


def _word(char: str) -> bool:
    """Whether ``char`` is a character of a word, as ``\\w`` says."""
    return char.isalnum() or char == "_"
