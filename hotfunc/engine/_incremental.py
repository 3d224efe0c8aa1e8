"""Compile a file again after an edit, parsing only what the edit came near.

A file is kept unparsed until its first edit: one block of lines.  An edit
parses the statements around it, cut at lines that start a top-level
statement (checked by parsing the cut), and compiles only the blocks it
touched and one neighbour on each side (an ``else:`` or a decorator may
attach to them).  Blocks below the edit keep their code objects and record
how far they moved.
"""

from __future__ import annotations

import ast
import bisect
import contextlib

from ..core._text import changed_lines, split_lines
from ._recompile import (
    NO_NAMES,
    Block,
    CompiledSource,
    Region,
    blocks_of,
    compile_source,
    compile_with_nodes,
    future_flags,
    import_guard,
    imported_names,
    parse_at,
    statement_imports,
)


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
            flags = future_flags(ast.parse("".join(futures)))
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
                marks.append((line, statement_imports(statement)))
                break
    return tuple(marks)


def open_at(compiled: CompiledSource, line: int, filename: str) -> CompiledSource:
    """``compiled`` with the statement at ``line`` (and its neighbours) parsed."""
    try:
        return _open(compiled, line, line, filename)
    except SyntaxError:
        return reparsed(compiled, filename)


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
        tree.body.append(import_guard(outside, start))
    code = compile(tree, filename, "exec", flags=old.flags, dont_inherit=True)
    return blocks_of(nodes, old.lines, code)


def reparsed(old: CompiledSource, filename: str) -> CompiledSource:
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
    imports = frozenset().union(*(names for _, names in own)) if own else NO_NAMES
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


def _full_update(
    old: CompiledSource, text: str, filename: str, edit: tuple[int, int, int]
) -> CompiledSource:
    """Compile all of ``text``; the region is the whole file.

    The old text is parsed whole too, so that every old statement can be
    compared with its new text.
    """
    fresh, nodes = compile_with_nodes(text, filename)
    if any(b.opaque for b in old.blocks):
        old = reparsed(old, filename)
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
    span = changed_lines(old.text, text, n_old)
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
        old = reparsed(old, filename)
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
    if future_flags(tree):
        return _full_update(old, text, filename, edit)
    nodes = list(tree.body)
    if not any(b.opaque for b in blocks) and {
        n for stmt in nodes for n in statement_imports(stmt)
    } != imported_names(blocks[lo : hi + 1]):
        # An import came or went: calls on that name elsewhere in the file
        # compile differently now, so every block is compiled again.  Not
        # while parts of the file were never parsed: the difference is in
        # how a call compiles, not in what it does, and the planner tells
        # functions whose text did not change by their syntax tree.
        return _full_update(old, text, filename, edit)
    imported = imported_names([*blocks[:lo], *blocks[hi + 1 :]])
    if imported:
        tree.body.append(import_guard(imported, start))
    code = compile(tree, filename, "exec", flags=old.flags, dont_inherit=True)
    middle = blocks_of(nodes, new_lines, code)
    after = [b.moved(delta) if delta else b for b in blocks[hi + 1 :]]
    changed = Region(old, lo, hi + 1, lo, lo + len(middle), nodes, edit)
    blocks = [*blocks[:lo], *middle, *after]
    return CompiledSource(new_lines, blocks, old.flags, changed, text)
