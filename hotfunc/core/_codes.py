"""Code objects: moved, compared, and compiled from one definition.

Pure functions.  A function's first line lives in its code object, which
cannot change: moving a function makes a new code object.
"""

from __future__ import annotations

import ast
import copy
import sys
from types import CodeType, FunctionType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..engine._recompile import FunctionNode


def iter_codes(code: CodeType) -> list[tuple[tuple[str, int], CodeType]]:
    found: list[tuple[tuple[str, int], CodeType]] = []
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, CodeType):
                found.append(((const.co_qualname, const.co_firstlineno), const))
                stack.append(const)
    return found


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


#: The ``__future__`` flags a code object carries: they say how the text was
#: compiled, and its bytecode says what it does.  ``from __future__ import
#: annotations`` added to a file sets one on every function in it.
_FUTURE = 0
for _feature in __import__("__future__").all_feature_names:
    if _feature != "nested_scopes":  # its flag is CO_NESTED, which code has for itself
        _FUTURE |= getattr(__import__("__future__"), _feature).compiler_flag


def _positionless(code: CodeType) -> CodeType:
    consts = code.co_consts
    if any(isinstance(c, CodeType) for c in consts):
        consts = tuple(_positionless(c) if isinstance(c, CodeType) else c for c in consts)
    return code.replace(
        co_firstlineno=1, co_linetable=b"", co_consts=consts, co_flags=code.co_flags & ~_FUTURE
    )


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
    return dict(iter_codes(code)).get((qualname, first))


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
    for (found, _), const in iter_codes(code):
        if found == qualname and const.co_name == name:
            return const
    return None
