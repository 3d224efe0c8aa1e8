"""Turn a file's text into code objects: blocks, definitions, and where each is.

Pure functions with no threads and no global state.  Text is compiled as a
module so each function's code comes out exactly as an import would make it:
same closure layout, same ``__class__`` cell for ``super()``, real line
numbers.  The module code itself is never executed.

A compiled file is kept as a list of blocks, one per top-level statement,
each with its definitions and code objects; ``_incremental`` compiles a file
again after an edit, block by block.
"""

from __future__ import annotations
import __future__

import ast
import bisect
from types import CodeType

from ..core._codes import iter_codes, shift_code
from ..core._text import split_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
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
    return compile_with_nodes(text, filename)[0]


def compile_with_nodes(text: str, filename: str) -> tuple[CompiledSource, list[ast.stmt]]:
    """All of ``text`` compiled, and its top-level statements."""
    lines = split_lines(text)
    tree = ast.parse(text, filename)
    nodes = list(tree.body)
    blocks = blocks_of(nodes, lines, compile(tree, filename, "exec", dont_inherit=True))
    return CompiledSource(lines, blocks, future_flags(tree), text=text), nodes


def imported_names(blocks: list[Block]) -> set[str]:
    """Every module-level name the statements of ``blocks`` bind by ``import``."""
    return {name for b in blocks if b.imports for name in b.imports}


def import_guard(names: set[str], line: int) -> ast.stmt:
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
        body.append(import_guard(imported, nodes[-1].end_lineno or nodes[-1].lineno))
    module = ast.Module(body=body, type_ignores=[])
    code: CodeType = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    return code


def blocks_of(nodes: list[ast.stmt], lines: list[str], code: CodeType) -> list[Block]:
    blocks: list[Block] = []
    for stmt in nodes:
        definitions: list[Definition] = []
        _collect([stmt], "", lines, definitions)
        decorators = getattr(stmt, "decorator_list", None)
        start = decorators[0].lineno if decorators else stmt.lineno
        end = stmt.end_lineno or stmt.lineno
        future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        imports = statement_imports(stmt)
        blocks.append(Block(start, end, 0, tuple(definitions), {}, future, imports))
    starts = [b.start for b in blocks]
    for key, const in iter_codes(code):
        index = bisect.bisect_right(starts, key[1]) - 1
        if index >= 0:
            blocks[index].codes[key] = const
    return blocks


NO_NAMES: frozenset[str] = frozenset()


def statement_imports(stmt: ast.stmt) -> frozenset[str]:
    """Names an ``import`` binds in module scope, in ``stmt`` or its nested blocks."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return frozenset(a.asname or a.name.partition(".")[0] for a in stmt.names if a.name != "*")
    if isinstance(stmt, (*FUNCTION_NODES, ast.ClassDef)) or not hasattr(stmt, "body"):
        return NO_NAMES
    names: set[str] = set()
    for field in ("body", "orelse", "finalbody"):
        for child in getattr(stmt, field, ()):
            names |= statement_imports(child)
    for part in (*getattr(stmt, "handlers", ()), *getattr(stmt, "cases", ())):
        for child in part.body:
            names |= statement_imports(child)
    return frozenset(names) if names else NO_NAMES


def _collect(
    body: list[ast.stmt], prefix: str, lines: list[str], out: list[Definition], branch: str = ""
) -> None:
    # Only statements can hold a def, so walking statement lists is enough and
    # far cheaper than visiting every expression node.
    for node in body:
        if isinstance(node, FUNCTION_NODES):
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


def future_flags(tree: ast.Module) -> int:
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
