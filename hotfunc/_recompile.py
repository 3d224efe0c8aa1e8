"""Turn a file's text into code objects, and decide what changed.

Pure functions with no threads and no global state.  Text is compiled as a
module so each function's code comes out exactly as an import would make it:
same closure layout, same ``__class__`` cell for ``super()``, real line
numbers.  The module code itself is never executed.

A compiled file is kept as a list of blocks, one per top-level statement.  When
the file changes, only the blocks the edit touched (and one neighbour on each
side, which an ``else:`` or a decorator may attach to) are parsed and
compiled again; blocks below the edit that only moved keep their code objects
and record how far they moved, and line numbers are shifted when a function
needs them.
"""

from __future__ import annotations
import __future__

import ast
import bisect
import contextlib
import copy
import importlib.util
import sys

# decode_source() imports tokenize on first use.  Imported here, before the
# watcher thread exists: a child forked while that thread is half-way
# through an import would keep a half-made module for good.
import tokenize  # noqa: F401
from types import CodeType, FunctionType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class Definition:
    """One ``def`` statement, at the lines where it was compiled."""

    __slots__ = (
        "branch",
        "defaults_key",
        "end",
        "firstlineno",
        "lineno",
        "qualname",
        "signature_key",
        "stub",
    )

    def __init__(
        self,
        qualname: str,
        firstlineno: int,
        lineno: int,
        end: int,
        defaults_key: str,
        signature_key: str,
        branch: str = "",
        stub: bool = False,
    ) -> None:
        self.qualname = qualname
        #: The compound statements around the ``def`` within its scope, as
        #: ``If.orelse/Try.body``: a name defined in both branches of an
        #: ``if`` is two definitions, and only one of them runs.
        self.branch = branch
        #: An ``@overload`` stub: it never stays bound to its name.
        self.stub = stub
        #: What the compiler reports as ``co_firstlineno``: the first decorator's line.
        self.firstlineno = firstlineno
        #: The line of the ``def`` keyword.
        self.lineno = lineno
        #: The last line of the body.
        self.end = end
        #: The default values' source text.
        self.defaults_key = defaults_key
        #: The source of everything a ``def`` evaluates outside the body
        #: (defaults, annotations, type parameters), plus the docstring.
        self.signature_key = signature_key


class Block:
    """One top-level statement: its lines now, and what compiling it gave."""

    __slots__ = (
        "codes",
        "definitions",
        "end",
        "future",
        "imports",
        "live",
        "marks",
        "opaque",
        "shift",
        "start",
    )

    def __init__(
        self,
        start: int,
        end: int,
        shift: int,
        definitions: tuple[Definition, ...],
        codes: dict[tuple[str, int], CodeType],
        future: bool,
        imports: frozenset[str] = frozenset(),
        live: str | None = None,
        opaque: bool = False,
        marks: tuple[tuple[int, frozenset[str]], ...] = (),
    ) -> None:
        self.start = start  # first line now, decorators included
        self.end = end  # last line now
        #: How many lines the block moved since it was compiled.
        self.shift = shift
        self.definitions = definitions
        #: Code objects by (qualname, first line as compiled).
        self.codes = codes
        self.future = future  # a ``from __future__`` import: changing it recompiles all
        #: Module-level names the statement binds by ``import``.  The compiler
        #: emits different bytecode for a method call on an imported name, so
        #: a region compiled alone must know them.
        self.imports = imports
        #: None while the live module matches this text; otherwise the text of
        #: the statement that is live ("" for none), because running the new
        #: one failed and must be retried.
        self.live = live
        #: Lines not parsed yet, as imported: any number of statements, no
        #: definitions or code known.  Nothing is compiled until an edit
        #: comes near.
        self.opaque = opaque
        #: For an unparsed block, where its column-0 imports stand (lines
        #: from its start) and what they bind, so that a cut needs no rescan.
        self.marks = marks

    def moved(self, lines: int) -> Block:
        return Block(
            self.start + lines,
            self.end + lines,
            self.shift + lines,
            self.definitions,
            self.codes,
            self.future,
            self.imports,
            self.live,
            self.opaque,
            self.marks,
        )

    def text(self, lines: list[str]) -> str:
        """The statement's source lines (whole lines, as in the file)."""
        return "".join(lines[self.start - 1 : self.end])


class Located:
    """A definition found in a compiled file, with its current position."""

    __slots__ = ("block", "definition", "origin")

    def __init__(self, block: Block, definition: Definition, origin: CodeType) -> None:
        self.block = block
        self.definition = definition
        #: The code object as compiled, before any shift.
        self.origin = origin

    @property
    def shift(self) -> int:
        return self.block.shift

    @property
    def firstlineno(self) -> int:
        return self.definition.firstlineno + self.block.shift

    @property
    def lineno(self) -> int:
        return self.definition.lineno + self.block.shift

    def source(self, compiled: CompiledSource) -> str:
        """The text of the definition, decorators included."""
        return "".join(compiled.lines[self.firstlineno - 1 : self.definition.end + self.shift])

    def code(self) -> CodeType:
        """The code object with the line numbers it has now."""
        return shift_code(self.origin, self.block.shift)


class Region:
    """Which blocks an update compiled again: ``base.blocks[old_lo:old_hi]`` became
    ``new[new_lo:new_hi]``, parsed as ``nodes``.  Every other block was carried.

    ``base`` is the old text as the update saw it: the old compiled source
    with its unparsed blocks near the edit parsed.  Old lines ``first`` to
    ``last`` changed (``last < first`` for a pure insertion), and the lines
    after them moved by ``delta``.
    """

    __slots__ = ("base", "delta", "first", "last", "new_hi", "new_lo", "nodes", "old_hi", "old_lo")

    def __init__(
        self,
        base: CompiledSource,
        old_lo: int,
        old_hi: int,
        new_lo: int,
        new_hi: int,
        nodes: list[ast.stmt],
        edit: tuple[int, int, int],
    ) -> None:
        self.base = base
        self.old_lo, self.old_hi = old_lo, old_hi
        self.new_lo, self.new_hi = new_lo, new_hi
        self.nodes = nodes
        self.first, self.last, self.delta = edit


class CompiledSource:
    """A file's lines, split into compiled top-level blocks."""

    __slots__ = ("_text", "blocks", "definitions", "flags", "lines", "region")

    def __init__(
        self,
        lines: list[str],
        blocks: list[Block],
        flags: int,
        region: Region | None = None,
        text: str | None = None,
    ) -> None:
        self.lines = lines
        # The lines joined, kept: the next edit is found by comparing texts.
        self._text = text
        self.blocks = blocks
        #: ``from __future__`` flags the text turns on.
        self.flags = flags
        #: What the update that made this compiled again; dropped once planned,
        #: since syntax trees cost far more memory than the text.
        self.region = region
        self.definitions: dict[str, list[tuple[Block, Definition]]] = {}
        for block in blocks:
            for definition in block.definitions:
                self.definitions.setdefault(definition.qualname, []).append((block, definition))

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self.lines)
        return self._text


def decode(data: bytes) -> str:
    """Decode source bytes as the import system does.

    Honours a PEP 263 coding cookie and a UTF-8 BOM, and turns CRLF into LF.

    Raises:
        SyntaxError: the coding cookie names an unknown encoding.
        UnicodeDecodeError: the bytes do not decode.
    """
    return importlib.util.decode_source(data)


# Characters str.splitlines() breaks at that do not end a line of Python
# source: a form feed on a line of its own is common between sections.
_NOT_NEWLINES = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_NOT_NEWLINES_WIDE = (*_NOT_NEWLINES, "\x85", "\u2028", "\u2029")


def split_lines(text: str) -> list[str]:
    """``text``'s lines, with their ends, as the compiler numbers them: at ``\n`` only."""
    odd = _NOT_NEWLINES if text.isascii() else _NOT_NEWLINES_WIDE
    if not any(c in text for c in odd):
        return text.splitlines(keepends=True)  # the same, and far faster
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


def unparsed(text: str) -> CompiledSource:
    """``text`` as one unparsed block: what a file is until its first edit.

    Costs a split into lines and a look for ``from __future__`` and import
    lines; an edit later parses only the statements around it.
    """
    lines = split_lines(text)
    if not lines:
        return CompiledSource(lines, [], 0, text=text)
    flags = 0
    if "from __future__" in text:
        futures = [
            line for line in lines if line.startswith("from __future__") and "import" in line
        ]
        with contextlib.suppress(SyntaxError):
            flags = _future_flags(ast.parse("".join(futures)))
    marks = _import_marks(text, lines)
    return CompiledSource(lines, _opaque(marks, 1, len(lines)), flags, text=text)


# Lines that start a top-level statement, as far as a glance can tell: where
# an unparsed block may be cut.  A cut is checked by parsing what it gives.
_ANCHORS = ("def ", "async def ", "class ", "@", "import ", "from ", "if __name__")


def _import_marks(text: str, lines: list[str]) -> tuple[tuple[int, frozenset[str]], ...]:
    """The lines (from 0) of the ``import`` statements at column 0, and the names they bind.

    Imports inside a top-level ``if`` or ``try`` are not seen: they only
    change how a method call on that name compiles, never what it does.
    """
    marks: list[tuple[int, frozenset[str]]] = []
    starts: list[int] = []
    for word in ("import", "from"):  # str.find runs in C, far faster than a regex here
        if text.startswith((f"{word} ", f"{word}\t")):
            starts.append(0)
        at = text.find(f"\n{word}")
        while at != -1:
            if text[at + 1 + len(word) : at + 2 + len(word)] in (" ", "\t"):
                starts.append(at + 1)
            at = text.find(f"\n{word}", at + 1)
    line, position = 0, 0
    for start in sorted(starts):
        line += text.count("\n", position, start)
        position = start
        for length in range(1, 33):  # a parenthesised import spans lines
            with contextlib.suppress(SyntaxError, ValueError):
                statement = ast.parse("".join(lines[line : line + length])).body[0]
                marks.append((line, _imported_names(statement)))
                break
    return tuple(marks)


def open_at(compiled: CompiledSource, line: int, filename: str) -> CompiledSource:
    """``compiled`` with the statement at ``line`` (and its neighbours) parsed."""
    try:
        return _open(compiled, line, line, filename)
    except SyntaxError:
        return _reparsed(compiled, filename)


def _open(old: CompiledSource, first: int, last: int, filename: str) -> CompiledSource:
    """``old`` with the unparsed blocks near old lines ``first`` to ``last`` parsed.

    The parsed window reaches two anchors beyond the edit on each side, so
    the edit and its neighbours (an ``else:``, a decorator) are statements of
    their own; a window that does not parse is widened until it does, at
    worst to the whole block.
    """
    blocks = old.blocks
    changed = False
    while True:
        lo, hi = _touched(blocks, first, last)
        index = next((i for i in range(lo, hi + 1) if blocks[i].opaque), None)
        if index is None:
            break
        blocks = [
            *blocks[:index],
            *_cut(old, blocks[index], first, last, filename),
            *blocks[index + 1 :],
        ]
        changed = True
    if not changed:
        return old
    return CompiledSource(old.lines, blocks, old.flags, text=old._text)


def _cut(old: CompiledSource, block: Block, first: int, last: int, filename: str) -> list[Block]:
    """Parse the part of ``block`` around the edit; the rest stays unparsed."""
    lines = old.lines
    reach = 2
    while True:
        start = _anchor_before(lines, block, first, reach)
        end = _anchor_after(lines, block, max(last, first), reach)
        try:
            parsed = _compile_window(old, block, start, end, filename)
        except SyntaxError:
            if start == block.start and end == block.end:
                raise
            reach *= 4
            continue
        marks = tuple((block.start - 1 + offset, names) for offset, names in block.marks)
        before = _opaque(marks, block.start, start - 1)
        after = _opaque(marks, end + 1, block.end)
        return [*before, *parsed, *after]


def _is_anchor(lines: list[str], n: int) -> bool:
    """Whether line ``n`` (from 1) looks like the first line of a top-level statement.

    Not when the nearest line of code above is a decorator (the statement
    starts there), a bracket closing at column 0 (a decorator call spread
    over lines) or ends in a backslash.
    """
    if not lines[n - 1].startswith(_ANCHORS):
        return False
    # The nearest line above that holds code: blank lines and comments may
    # stand between a decorator and its def.
    above = ""
    for index in range(n - 2, max(-1, n - 42), -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            above = lines[index]
            break
    return not above.startswith(("@", ")", "]", "}")) and not above.rstrip("\r\n").endswith("\\")


def _anchor_before(lines: list[str], block: Block, line: int, reach: int) -> int:
    """The ``reach``-th anchor line at or before ``line`` in ``block``, or its start."""
    found = 0
    for n in range(min(line, block.end), block.start, -1):
        if _is_anchor(lines, n):
            found += 1
            if found == reach:
                return n
    return block.start


def _anchor_after(lines: list[str], block: Block, line: int, reach: int) -> int:
    """The line before the ``reach``-th anchor after ``line`` in ``block``, or its end."""
    found = 0
    for n in range(max(line, block.start) + 1, block.end + 1):
        if _is_anchor(lines, n):
            found += 1
            if found == reach:
                return n - 1
    return block.end


def _compile_window(
    old: CompiledSource, block: Block, start: int, end: int, filename: str
) -> list[Block]:
    """Parse and compile old lines ``start`` to ``end`` as blocks.

    Raises:
        SyntaxError: the lines are not whole statements.
    """
    text = "".join(old.lines[start - 1 : end])
    tree = parse_at(text, start, filename)
    nodes = list(tree.body)
    if nodes:
        decorators = getattr(nodes[0], "decorator_list", None)
        first = decorators[0].lineno if decorators else nodes[0].lineno
        if first != start and "".join(old.lines[start - 1 : first - 1]).strip():
            raise SyntaxError("the window starts inside a statement")
    outside = imported_names([b for b in old.blocks if b is not block]) | block.imports
    if outside:
        tree.body.append(_import_guard(outside, start))
    code = compile(tree, filename, "exec", flags=old.flags, dont_inherit=True)
    return _blocks(nodes, old.lines, code)


def _reparsed(old: CompiledSource, filename: str) -> CompiledSource:
    """``old``'s text compiled whole; blocks that failed to run stay pending."""
    fresh = compile_source(old.text, filename)
    pending = {(b.start, b.end): b.live for b in old.blocks if b.live is not None}
    for block in fresh.blocks:
        block.live = pending.get((block.start, block.end))
    return fresh


def _opaque(marks: tuple[tuple[int, frozenset[str]], ...], start: int, end: int) -> list[Block]:
    """An unparsed block of lines ``start`` to ``end``, with the import ``marks``
    (by line from 0 in the file) that fall in it."""
    if end < start:
        return []
    own = tuple((line + 1 - start, names) for line, names in marks if start <= line + 1 <= end)
    imports = frozenset().union(*(names for _, names in own)) if own else _NO_NAMES
    return [Block(start, end, 0, (), {}, False, imports, None, True, own)]


def _touched(blocks: list[Block], first: int, last: int) -> tuple[int, int]:
    """The blocks an edit of lines ``first`` to ``last`` touches, one more on each
    side, and any block that shares a line with those at the edges."""
    lo = max(0, bisect.bisect_left([b.end for b in blocks], first) - 1)
    hi = min(len(blocks) - 1, bisect.bisect_right([b.start for b in blocks], max(last, first)))
    while lo > 0 and blocks[lo - 1].end >= blocks[lo].start:
        lo -= 1
    while hi < len(blocks) - 1 and blocks[hi + 1].start <= blocks[hi].end:
        hi += 1
    return lo, hi


def parse_at(text: str, line: int, filename: str = "<unknown>") -> ast.Module:
    """Parse ``text``, the lines of a file from ``line`` on; nodes and errors carry
    their line numbers in the file.

    Blank lines in front number the lines, and cost little until a large file's
    end: there, numbering the (few) parsed nodes again is cheaper.
    """
    offset = line - 1
    if offset <= _BLANK_LINES_PER_LINE * (text.count("\n") + 1):
        return ast.parse("\n" * offset + text, filename)
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as exc:
        if exc.lineno is not None:
            exc.lineno += offset
        if exc.end_lineno is not None:
            exc.end_lineno += offset
        raise
    return ast.increment_lineno(tree, offset)


# Parsing a blank line costs about this many times less than numbering the
# nodes of a line of code again (measured on CPython 3.11 to 3.13).
_BLANK_LINES_PER_LINE = 300


def compile_source(text: str, filename: str) -> CompiledSource:
    """Parse and compile all of ``text`` as the module stored at ``filename``.

    Raises:
        SyntaxError: the text does not compile.
        ValueError: the text holds null bytes.
    """
    return _compiled(text, filename)[0]


def _compiled(text: str, filename: str) -> tuple[CompiledSource, list[ast.stmt]]:
    """All of ``text`` compiled, and its top-level statements."""
    lines = split_lines(text)
    tree = ast.parse(text, filename)
    nodes = list(tree.body)
    blocks = _blocks(nodes, lines, compile(tree, filename, "exec", dont_inherit=True))
    return CompiledSource(lines, blocks, _future_flags(tree), text=text), nodes


def _full_update(
    old: CompiledSource, text: str, filename: str, edit: tuple[int, int, int]
) -> CompiledSource:
    """Compile all of ``text``; the region is the whole file.

    The old text is parsed whole too, so that every old statement can be
    compared with its new text.
    """
    fresh, nodes = _compiled(text, filename)
    if any(b.opaque for b in old.blocks):
        old = _reparsed(old, filename)
    fresh.region = Region(old, 0, len(old.blocks), 0, len(fresh.blocks), nodes, edit)
    return fresh


def update_source(old: CompiledSource, text: str, filename: str) -> CompiledSource:
    """Compile ``text``, reusing what ``old`` compiled for the lines it shares.

    The result is what ``compile_source(text, filename)`` gives, computed from
    the edited blocks only.

    Raises:
        SyntaxError: the text does not compile.
        ValueError: the text holds null bytes.
    """
    old_lines = old.lines
    n_old = len(old_lines)
    span = _changed_lines(old.text, text, n_old)
    if span is None:
        return old  # the last good text again, as after undoing a typo
    same, tail, edited = span
    # Only the changed lines are split: a large file's others are the old
    # line objects again.
    new_lines = old_lines.copy()
    new_lines[same : n_old - tail] = split_lines(edited)
    first, last = same + 1, n_old - tail  # changed old lines; last < first for an insertion
    delta = len(new_lines) - n_old
    edit = (first, last, delta)
    if not old.blocks:
        return _full_update(old, text, filename, edit)
    try:
        old = _open(old, first, last, filename)
    except SyntaxError:
        # An unparsed block was cut where no statement starts, which a
        # glance at the lines cannot always tell: parse the old text whole.
        old = _reparsed(old, filename)
    blocks = old.blocks
    lo, hi = _touched(blocks, first, last)
    start = min(first, blocks[lo].start)
    end = max(last, blocks[hi].end)
    if any(b.future for b in blocks[lo : hi + 1]):
        return _full_update(old, text, filename, edit)

    region = "".join(new_lines[start - 1 : end + delta])
    try:
        tree = parse_at(region, start, filename)
    except SyntaxError:
        # The edit reaches past the region (an unclosed bracket or string):
        # the whole text decides, and reports the real error if there is one.
        return _full_update(old, text, filename, edit)
    if _future_flags(tree):
        return _full_update(old, text, filename, edit)
    nodes = list(tree.body)
    if not any(b.opaque for b in blocks) and {
        n for stmt in nodes for n in _imported_names(stmt)
    } != imported_names(blocks[lo : hi + 1]):
        # An import came or went: calls on that name elsewhere in the file
        # compile differently now, so every block is compiled again.  Not
        # while parts of the file were never parsed: the difference is in
        # how a call compiles, not in what it does, and the planner tells
        # functions whose text did not change by their syntax tree.
        return _full_update(old, text, filename, edit)
    imported = imported_names([*blocks[:lo], *blocks[hi + 1 :]])
    if imported:
        tree.body.append(_import_guard(imported, start))
    code = compile(tree, filename, "exec", flags=old.flags, dont_inherit=True)
    middle = _blocks(nodes, new_lines, code)
    after = [b.moved(delta) if delta else b for b in blocks[hi + 1 :]]
    changed = Region(old, lo, hi + 1, lo, lo + len(middle), nodes, edit)
    blocks = [*blocks[:lo], *middle, *after]
    return CompiledSource(new_lines, blocks, old.flags, changed, text)


def imported_names(blocks: list[Block]) -> set[str]:
    """Every module-level name the statements of ``blocks`` bind by ``import``."""
    return {name for b in blocks if b.imports for name in b.imports}


def _import_guard(names: set[str], line: int) -> ast.stmt:
    """``if False: import _ as name, ...``.

    CPython compiles a method call on an imported name differently from one
    on any other name.  Code compiled apart from the rest of its file gets the
    file's imports this way: the compiler sees them, and nothing runs them.
    """
    guard = ast.If(
        test=ast.Constant(False),
        body=[ast.Import(names=[ast.alias(name="_", asname=n) for n in sorted(names)])],
        orelse=[],
    )
    for node in ast.walk(guard):
        node.lineno = node.end_lineno = line  # type: ignore[attr-defined]
        node.col_offset = node.end_col_offset = 0  # type: ignore[attr-defined]
    return guard


def compile_statements(
    nodes: list[ast.stmt], filename: str, flags: int, imported: set[str]
) -> CodeType:
    """Compile top-level statements to run in their module's namespace.

    They compile as they would within the whole file: same ``from
    __future__`` flags, same imported names, real line numbers.
    """
    body = list(nodes)
    if imported:
        body.append(_import_guard(imported, nodes[-1].end_lineno or nodes[-1].lineno))
    module = ast.Module(body=body, type_ignores=[])
    code: CodeType = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    return code


def _changed_lines(old: str, new: str, lines: int) -> tuple[int, int, str] | None:
    """How many whole lines ``old`` (of ``lines`` lines) and ``new`` share at the
    start and at the end, and the text of ``new`` between them; None if the texts
    are the same.

    Works on the texts, in C, and counts lines over the shorter side of the
    edit: a large file is never split whole.
    """
    common = _common_start(old, new)
    if common == len(old) == len(new):
        return None
    # The first line that differs starts at the same offset in both texts.
    start = old.rfind("\n", 0, common) + 1
    if start <= len(old) // 2:
        same = old.count("\n", 0, start)
    else:
        same = lines - _lines_in(old, start, len(old))
    # The common end, kept clear of the common lines at the start.
    common = _common_end(old, new, min(len(old), len(new)) - start)
    old_end, new_end = len(old) - common, len(new) - common
    # Lines of the common end count when they start a line in both texts.
    if (old_end == 0 or old[old_end - 1] == "\n") and (new_end == 0 or new[new_end - 1] == "\n"):
        tail_start = old_end
    else:
        tail_start = old.find("\n", old_end) + 1 or len(old)
    tail = lines - same - _lines_in(old, start, tail_start)
    return same, tail, new[start : len(new) - (len(old) - tail_start)]


def _lines_in(text: str, start: int, end: int) -> int:
    """How many lines of ``text`` start in ``[start, end)``; ``start`` starts one,
    and ``end`` does or is the end of the text."""
    count = text.count("\n", start, end)
    return count + 1 if end == len(text) and end > start and text[-1] != "\n" else count


_CHUNK = 1 << 16


def _common_start(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    limit = min(len(a), len(b))
    low = 0
    while low + _CHUNK <= limit and a[low : low + _CHUNK] == b[low : low + _CHUNK]:
        low += _CHUNK
    high = min(low + _CHUNK, limit)
    while low < high:  # the first difference lies in [low, high]
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_end(a: str, b: str, limit: int) -> int:
    """How many trailing characters ``a`` and ``b`` share, ``limit`` at most."""
    same = 0
    while (
        same + _CHUNK <= limit
        and a[len(a) - same - _CHUNK : len(a) - same] == b[len(b) - same - _CHUNK : len(b) - same]
    ):
        same += _CHUNK
    high = min(same + _CHUNK, limit)
    while same < high:
        middle = (same + high + 1) // 2
        if a[len(a) - middle : len(a) - same] == b[len(b) - middle : len(b) - same]:
            same = middle
        else:
            high = middle - 1
    return same


def _blocks(nodes: list[ast.stmt], lines: list[str], code: CodeType) -> list[Block]:
    blocks: list[Block] = []
    for stmt in nodes:
        definitions: list[Definition] = []
        _collect([stmt], "", lines, definitions)
        decorators = getattr(stmt, "decorator_list", None)
        start = decorators[0].lineno if decorators else stmt.lineno
        end = stmt.end_lineno or stmt.lineno
        future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        imports = _imported_names(stmt)
        blocks.append(Block(start, end, 0, tuple(definitions), {}, future, imports))
    starts = [b.start for b in blocks]
    for key, const in _iter_codes(code):
        index = bisect.bisect_right(starts, key[1]) - 1
        if index >= 0:
            blocks[index].codes[key] = const
    return blocks


def _iter_codes(code: CodeType) -> list[tuple[tuple[str, int], CodeType]]:
    found: list[tuple[tuple[str, int], CodeType]] = []
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, CodeType):
                found.append(((const.co_qualname, const.co_firstlineno), const))
                stack.append(const)
    return found


_NO_NAMES: frozenset[str] = frozenset()


def _imported_names(stmt: ast.stmt) -> frozenset[str]:
    """Names an ``import`` binds in module scope, in ``stmt`` or its nested blocks."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return frozenset(a.asname or a.name.partition(".")[0] for a in stmt.names if a.name != "*")
    if isinstance(stmt, (*_FUNCTION_NODES, ast.ClassDef)) or not hasattr(stmt, "body"):
        return _NO_NAMES
    names: set[str] = set()
    for field in ("body", "orelse", "finalbody"):
        for child in getattr(stmt, field, ()):
            names |= _imported_names(child)
    for part in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
        for child in part.body:
            names |= _imported_names(child)
    return frozenset(names) if names else _NO_NAMES


def _collect(
    body: list[ast.stmt], prefix: str, lines: list[str], out: list[Definition], branch: str = ""
) -> None:
    # Only statements can hold a def, so walking statement lists is enough and
    # far cheaper than visiting every expression node.
    for node in body:
        if isinstance(node, _FUNCTION_NODES):
            qualname = prefix + node.name
            out.append(_definition(qualname, node, lines, branch))
            _collect(node.body, qualname + ".<locals>.", lines, out)
        elif isinstance(node, ast.ClassDef):
            _collect(node.body, prefix + node.name + ".", lines, out)
        else:
            kind = type(node).__name__
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    _collect(block, prefix, lines, out, _within(branch, kind, field))
            for index, part in enumerate(
                (*getattr(node, "handlers", ()), *getattr(node, "cases", ()))
            ):
                _collect(part.body, prefix, lines, out, _within(branch, kind, str(index)))


def _within(branch: str, kind: str, field: str) -> str:
    return f"{branch}/{kind}.{field}" if branch else f"{kind}.{field}"


def is_overload(node: ast.stmt) -> bool:
    """Whether a ``def`` is decorated with ``overload`` (``typing.overload`` or another
    module's): a stub for type checkers, which the definition after it replaces."""
    for decorator in getattr(node, "decorator_list", ()):
        if isinstance(decorator, ast.Name) and decorator.id == "overload":
            return True
        if isinstance(decorator, ast.Attribute) and decorator.attr == "overload":
            return True
    return False


def _definition(
    qualname: str, node: FunctionNode, lines: list[str], branch: str = ""
) -> Definition:
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    args = node.args
    defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    # Source text serves as the key: reading it is far cheaper than ast.dump,
    # and a reformatted default merely gets evaluated once more.
    defaults_key = "\0".join(_segment(lines, d) for d in defaults)
    end = node.end_lineno or node.lineno
    return Definition(
        qualname,
        first,
        node.lineno,
        end,
        defaults_key,
        _signature_key(node, lines, defaults_key),
        branch,
        is_overload(node),
    )


def _signature_key(node: FunctionNode, lines: list[str], defaults_key: str) -> str:
    """What the ``def`` evaluates besides its body, as text pieces.

    Built from the expressions' own text, so blank lines, comments and
    line breaks between the parameters change nothing.
    """
    args = node.args
    parts: list[str] = []
    groups = (
        ("/", args.posonlyargs),
        ("", args.args),
        ("*", [args.vararg] if args.vararg else []),
        ("kw", args.kwonlyargs),
        ("**", [args.kwarg] if args.kwarg else []),
    )
    for mark, group in groups:
        for arg in group:
            note = _segment(lines, arg.annotation) if arg.annotation else ""
            parts.append(f"{mark}{arg.arg}:{note}")
    parts.append(defaults_key)
    parts.append(_segment(lines, node.returns) if node.returns else "")
    parts.extend(_segment(lines, p) for p in getattr(node, "type_params", ()))
    parts.append(repr(ast.get_docstring(node, clean=False)))
    return "\0".join(parts)


def _segment(lines: list[str], node: ast.expr) -> str:
    """The source text of ``node``; column offsets count UTF-8 bytes."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start, end = node.col_offset, node.end_col_offset
    if first == last:
        line = lines[first]
        return line[start:end] if line.isascii() else line.encode()[start:end].decode()
    head = lines[first].encode()[start:].decode()
    tail = lines[last].encode()[:end].decode()
    return head + "".join(lines[first + 1 : last]) + tail


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
    return flags


#: Which definition of a qualname an entry's live code came from: the
#: branch it stands in, and its place among the definitions (overload stubs
#: left out) of that qualname in that branch.
Occurrence = tuple[str, int]


def find(compiled: CompiledSource, qualname: str, occurrence: Occurrence) -> Located | None:
    """The definition of ``qualname`` at ``occurrence`` and its code, or None.

    Overload stubs are never found: a function is paired with the ``def``
    that stays bound to its name.  A definition whose branch changed (the
    ``def`` moved into an ``if``) is still found when it is the only one.
    """
    branch, index = occurrence
    candidates = [(b, d) for b, d in compiled.definitions.get(qualname, ()) if not d.stub]
    same = [(b, d) for b, d in candidates if d.branch == branch]
    if index < len(same):
        block, definition = same[index]
    elif not same and len(candidates) == 1:
        block, definition = candidates[0]
    else:
        return None
    return locate(block, definition)


def locate(block: Block, definition: Definition) -> Located | None:
    """``definition`` of ``block`` with its code, or None when it has none."""
    origin = block.codes.get((definition.qualname, definition.firstlineno))
    return None if origin is None else Located(block, definition, origin)


def occurrence_of(compiled: CompiledSource, qualname: str, firstlineno: int) -> Occurrence:
    """Which definition of ``qualname`` starts at ``firstlineno`` now (the first if none does).

    A property's getter and setter share one qualname; the line tells them apart.
    """
    found = [d for b, d in compiled.definitions.get(qualname, ()) if not d.stub]
    starts = [
        d.firstlineno + b.shift for b, d in compiled.definitions.get(qualname, ()) if not d.stub
    ]
    at = starts.index(firstlineno) if firstlineno in starts else 0
    if not found:
        return "", 0
    branch = found[at].branch
    # In file order: the index among the definitions of the same branch.
    return branch, sum(1 for d in found[:at] if d.branch == branch)


def shift_code(code: CodeType, lines: int) -> CodeType:
    """``code`` moved ``lines`` lines down the file, nested code objects included.

    Line tables are stored relative to ``co_firstlineno``, so moving a function
    only changes that number.
    """
    if not lines:
        return code
    consts = code.co_consts
    if CodeType in map(type, consts):  # the test runs in C: most code has none
        consts = tuple(shift_code(c, lines) if isinstance(c, CodeType) else c for c in consts)
        return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines)


def same_behaviour(old: CodeType, new: CodeType) -> bool:
    """True when ``new`` differs from ``old`` only in line and column positions.

    A function that moved, or whose text was reformatted or re-commented, runs
    the same bytecode; only its tracebacks need the new positions.
    """
    return _positionless(old) == _positionless(new)


def _positionless(code: CodeType) -> CodeType:
    consts = code.co_consts
    if any(isinstance(c, CodeType) for c in consts):
        consts = tuple(_positionless(c) if isinstance(c, CodeType) else c for c in consts)
    return code.replace(co_firstlineno=1, co_linetable=b"", co_consts=consts)


def node_of(compiled: CompiledSource, located: Located) -> FunctionNode:
    """The ``def`` statement's syntax tree, parsed again from its block's text.

    Compiled files keep no syntax trees, which would cost far more memory than
    the text; the few definitions whose signature changed are parsed again.
    """
    block = located.block
    tree = parse_at("".join(compiled.lines[block.start - 1 : block.end]), block.start)
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTION_NODES) and node.lineno == located.lineno:
            return node
    msg = f"no def of {located.definition.qualname!r} at line {located.lineno}"
    raise LookupError(msg)


def evaluate_definition(
    node: FunctionNode,
    filename: str,
    flags: int,
    globals_: dict[str, Any],
    namespace: dict[str, Any],
) -> FunctionType:
    """Run the ``def`` statement alone, without decorators or body.

    The function it makes carries freshly evaluated defaults, annotations, type
    parameters and docstring; ``namespace`` supplies class-scope and closure
    names.  Nothing is written to ``globals_``.

    Raises:
        Exception: whatever a default or annotation expression raises.
    """
    node = copy.copy(node)
    body: list[ast.stmt] = []
    if ast.get_docstring(node, clean=False) is not None:
        body.append(node.body[0])
    body.append(ast.copy_location(ast.Pass(), node))
    node.body = body
    node.decorator_list = []
    module = ast.Module(body=[node], type_ignores=[])
    code = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    scope = dict(namespace)
    exec(code, globals_, scope)
    made = scope[node.name]
    assert isinstance(made, FunctionType)
    return made


def expression(text: str, at: ast.AST) -> ast.expr:
    """``text`` parsed as an expression, every node placed where ``at`` is."""
    expr = ast.parse(text, mode="eval").body
    for node in ast.walk(expr):
        ast.copy_location(node, at)
    return expr


class _ExplicitSuper(ast.NodeTransformer):
    """Rewrite ``super()`` and ``__class__`` in one method's own scope."""

    def __init__(self, owner: str, first_arg: str) -> None:
        self.owner = owner
        self.first_arg = first_arg

    def _owner(self, at: ast.AST) -> ast.expr:
        return expression(self.owner, at)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args:
            if not node.keywords:
                first = ast.copy_location(ast.Name(self.first_arg, ast.Load()), node)
                node.args = [self._owner(node), first]
            # The compiler gives a method a __class__ cell whenever the bare
            # name ``super`` appears in it, arguments or not.
            node.func = expression('__import__("builtins").super', node.func)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "__class__" and isinstance(node.ctx, ast.Load):
            return self._owner(node)
        return node

    def _skip(self, node: ast.AST) -> ast.AST:
        return node  # nested scopes have their own first argument

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _skip


def compile_explicit_super(
    node: FunctionNode, qualname: str, filename: str, flags: int
) -> CodeType | None:
    """Compile a method with ``super()`` spelled ``super(Owner, self)``.

    Zero-argument ``super()`` needs a ``__class__`` cell, which only the class
    statement creates; a method that had none cannot gain one.  Naming the
    class through its module-level path needs no cell, nor does reaching
    ``super`` through the ``builtins`` module.  Returns None when the class is
    not reachable that way (defined inside a function) or the method has no
    first argument.
    """
    *classes, _ = qualname.split(".")
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if not classes or "<locals>" in classes or not positional:
        return None
    method = copy.deepcopy(node)
    rewrite = _ExplicitSuper(".".join(classes), positional[0].arg)
    method.body = [rewrite.visit(stmt) for stmt in method.body]
    module = ast.Module(body=[in_bare_classes([method], classes, node)], type_ignores=[])
    ast.fix_missing_locations(module)
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    code = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    return dict(_iter_codes(code)).get((qualname, first))


def in_bare_classes(body: list[ast.stmt], classes: list[str], at: ast.AST) -> ast.stmt:
    """``body`` nested in bare ``class`` statements named ``classes``, outermost first.

    Code compiled in them gets the qualnames it has in the real classes; the
    line numbers come from the nodes of ``body``.
    """
    for name in reversed(classes):
        shell = ast.copy_location(
            ast.ClassDef(name=name, bases=[], keywords=[], body=body, decorator_list=[]), at
        )
        if sys.version_info >= (3, 12):
            shell.type_params = []
        body = [shell]
    return body[0]


def class_body(code: CodeType, qualname: str) -> CodeType | None:
    """The code object of the body of class ``qualname`` compiled within ``code``."""
    name = qualname.rpartition(".")[2]
    for (found, _), const in _iter_codes(code):
        if found == qualname and const.co_name == name:
            return const
    return None
