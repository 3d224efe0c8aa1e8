"""Turn a file's text into code objects, and decide what changed.

Pure functions with no threads and no global state.  The whole file is
compiled as a module so each function's code comes out exactly as an import
would make it: same closure layout, same ``__class__`` cell for ``super()``,
real line numbers.  The module code itself is never executed.
"""

from __future__ import annotations
import __future__

import ast
import copy
import importlib.util
import sys
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any

_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True, slots=True)
class Definition:
    """One ``def`` statement found in the text."""

    qualname: str
    #: What the compiler reports as ``co_firstlineno``: the first decorator's line.
    firstlineno: int
    node: FunctionNode
    #: Default values' expressions, without positions.
    defaults_key: str
    #: Everything evaluated outside the body: defaults, annotations, type
    #: parameters, plus the docstring.
    signature_key: str


@dataclass(frozen=True, slots=True)
class CompiledSource:
    """A file's text, its definitions by qualname and its code objects."""

    text: str
    definitions: dict[str, list[Definition]]
    codes: dict[tuple[str, int], CodeType]
    #: ``from __future__`` flags the text turns on, for compiling stubs.
    flags: int


def decode(data: bytes) -> str:
    """Decode source bytes as the import system does.

    Honours a PEP 263 coding cookie and a UTF-8 BOM, and turns CRLF into LF.

    Raises:
        SyntaxError: the coding cookie names an unknown encoding.
        UnicodeDecodeError: the bytes do not decode.
    """
    return importlib.util.decode_source(data)


def compile_source(text: str, filename: str, *, codes: bool = True) -> CompiledSource:
    """Parse and compile ``text`` as the module stored at ``filename``.

    With ``codes=False`` only parse: enough to know the definitions of the text
    the live code was built from.

    Raises:
        SyntaxError: the text does not compile.
        ValueError: the text holds null bytes.
    """
    tree = ast.parse(text, filename)
    definitions: dict[str, list[Definition]] = {}
    _collect(tree.body, "", definitions)
    code_index: dict[tuple[str, int], CodeType] = {}
    if codes:
        _index_codes(compile(tree, filename, "exec", dont_inherit=True), code_index)
    return CompiledSource(text, definitions, code_index, _future_flags(tree))


def _collect(body: list[ast.stmt], prefix: str, out: dict[str, list[Definition]]) -> None:
    # Only statements can hold a def, so walking statement lists is enough and
    # far cheaper than visiting every expression node.
    for node in body:
        if isinstance(node, _FUNCTION_NODES):
            qualname = prefix + node.name
            out.setdefault(qualname, []).append(_definition(qualname, node))
            _collect(node.body, qualname + ".<locals>.", out)
        elif isinstance(node, ast.ClassDef):
            _collect(node.body, prefix + node.name + ".", out)
        else:
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    _collect(block, prefix, out)
            for part in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
                _collect(part.body, prefix, out)


def _definition(qualname: str, node: FunctionNode) -> Definition:
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    args = node.args
    defaults_key = ast.dump(
        ast.Tuple([*args.defaults, *(d or ast.Constant(...) for d in args.kw_defaults)])
    )
    parts = [
        ast.dump(args),
        ast.dump(node.returns) if node.returns else "",
        ast.dump(ast.Tuple(list(getattr(node, "type_params", [])))),
        repr(ast.get_docstring(node, clean=False)),
    ]
    return Definition(qualname, first, node, defaults_key, "\n".join(parts))


def _index_codes(code: CodeType, out: dict[tuple[str, int], CodeType]) -> None:
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out[(const.co_qualname, const.co_firstlineno)] = const
            _index_codes(const, out)


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__future__, alias.name, None)
                if feature is not None:
                    flags |= feature.compiler_flag
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            break  # __future__ imports must come first; stop at the first other statement
    return flags


def find(
    compiled: CompiledSource, qualname: str, occurrence: int
) -> tuple[Definition, CodeType] | None:
    """The ``occurrence``-th definition of ``qualname`` and its code, or None."""
    found = compiled.definitions.get(qualname, ())
    if occurrence >= len(found):
        return None
    definition = found[occurrence]
    code = compiled.codes.get((qualname, definition.firstlineno))
    return None if code is None else (definition, code)


def occurrence_of(compiled: CompiledSource, qualname: str, firstlineno: int) -> int:
    """Which definition of ``qualname`` starts at ``firstlineno`` (0 if none does).

    A property's getter and setter share one qualname; the line tells them apart.
    """
    for index, definition in enumerate(compiled.definitions.get(qualname, ())):
        if definition.firstlineno == firstlineno:
            return index
    return 0


def _without_positions(code: CodeType) -> CodeType:
    consts = tuple(_without_positions(c) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=1, co_consts=consts)


def moved_only(old: CodeType, new: CodeType) -> bool:
    """True when ``new`` differs from ``old`` only by where it starts in the file.

    Line tables are stored relative to ``co_firstlineno``, so a function that
    moved down the file has the same table, nested code objects included.
    """
    return _without_positions(old) == _without_positions(new)


def evaluate_definition(
    definition: Definition,
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
    node = copy.copy(definition.node)
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


class _ExplicitSuper(ast.NodeTransformer):
    """Rewrite ``super()`` and ``__class__`` in one method's own scope."""

    def __init__(self, owner: str, first_arg: str) -> None:
        self.owner = owner
        self.first_arg = first_arg

    def _owner(self, at: ast.AST) -> ast.expr:
        expr = ast.parse(self.owner, mode="eval").body
        for node in ast.walk(expr):
            ast.copy_location(node, at)
        return expr

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args:
            if not node.keywords:
                first = ast.copy_location(ast.Name(self.first_arg, ast.Load()), node)
                node.args = [self._owner(node), first]
            # The compiler gives a method a __class__ cell whenever the bare
            # name ``super`` appears in it, arguments or not.
            builtin = ast.parse('__import__("builtins").super', mode="eval").body
            for part in ast.walk(builtin):
                ast.copy_location(part, node.func)
            node.func = builtin
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "__class__" and isinstance(node.ctx, ast.Load):
            return self._owner(node)
        return node

    def _skip(self, node: ast.AST) -> ast.AST:
        return node  # nested scopes have their own first argument

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _skip


def compile_explicit_super(definition: Definition, filename: str, flags: int) -> CodeType | None:
    """Compile a method with ``super()`` spelled ``super(Owner, self)``.

    Zero-argument ``super()`` needs a ``__class__`` cell, which only the class
    statement creates; a method that had none cannot gain one.  Naming the
    class through its module-level path needs no cell, nor does reaching
    ``super`` through the ``builtins`` module.  Returns None when the
    class is not reachable that way (defined inside a function) or the method
    has no first argument.
    """
    *classes, _ = definition.qualname.split(".")
    args = definition.node.args
    positional = [*args.posonlyargs, *args.args]
    if not classes or "<locals>" in classes or not positional:
        return None
    method = copy.deepcopy(definition.node)
    rewrite = _ExplicitSuper(".".join(classes), positional[0].arg)
    method.body = [rewrite.visit(stmt) for stmt in method.body]
    # Nest the method in bare classes of the same names, so the code object gets
    # the same qualname; the line numbers come from the copied nodes.
    body: ast.stmt = method
    for name in reversed(classes):
        body = ast.copy_location(
            ast.ClassDef(name=name, bases=[], keywords=[], body=[body], decorator_list=[]),
            definition.node,
        )
        if sys.version_info >= (3, 12):
            body.type_params = []
    module = ast.Module(body=[body], type_ignores=[])
    ast.fix_missing_locations(module)
    codes: dict[tuple[str, int], CodeType] = {}
    _index_codes(compile(module, filename, "exec", flags=flags, dont_inherit=True), codes)
    return codes.get((definition.qualname, definition.firstlineno))
