"""Top-level statements as the planner compares them: keys, slots, summaries, parsing.

Pure functions over syntax trees and compiled files.
"""

from __future__ import annotations

import ast

from ._recompile import Block, CompiledSource, parse_at

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def statement_text(node: ast.stmt, lines: list[str]) -> str:
    """A statement's whole lines, decorators included."""
    decorators = getattr(node, "decorator_list", None)
    first = decorators[0].lineno if decorators else node.lineno
    return "".join(lines[first - 1 : node.end_lineno or node.lineno])


def qualnames_in(node: ast.stmt, prefix: str) -> list[str]:
    """Qualnames of the functions a class-body statement defines, nested ones too."""
    if isinstance(node, _DEFS):
        name = prefix + node.name
        inner = [q for child in node.body for q in qualnames_in(child, name + ".<locals>.")]
        return [name, *inner]
    if isinstance(node, ast.ClassDef):
        return [q for child in node.body for q in qualnames_in(child, f"{prefix}{node.name}.")]
    return []


def key(node: ast.AST) -> str:
    """The statement's syntax tree with every position left out."""
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def keys_of(nodes: list[ast.expr]) -> list[str]:
    return [key(n) for n in nodes]


def class_header(node: ast.ClassDef) -> list[object]:
    return [
        keys_of(node.decorator_list),
        keys_of(node.bases),
        [key(k) for k in node.keywords],
        [key(p) for p in getattr(node, "type_params", ())],
    ]


def is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def slot(node: ast.stmt) -> str | None:
    """The name a statement defines, to pair an old statement with its new text."""
    if isinstance(node, (*_DEFS, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return "=" + ",".join(t.id for t in node.targets if isinstance(t, ast.Name))
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
        return "=" + node.target.id
    return None


def is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``, either way round."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def summarize(node: ast.stmt, width: int = 40) -> str:
    """A short, one-line form of a statement for the log: ``import json``, ``LIMIT = 5``."""
    if isinstance(node, _DEFS):
        return node.name
    if isinstance(node, ast.ClassDef):
        return node.name
    try:
        text = ast.unparse(node).splitlines()[0]
    except Exception:  # unparse is best effort for a log line
        text = type(node).__name__
    return text if len(text) <= width else text[: width - 3] + "..."


def parse_block_or_none(compiled: CompiledSource, block: Block) -> ast.stmt | None:
    try:
        return parse_block(compiled, block)
    except (SyntaxError, IndexError):
        return None


def parse_block(compiled: CompiledSource, block: Block) -> ast.stmt:
    body = parse_at(block.text(compiled.lines), block.start).body
    # Statements sharing a line (``a = 1; b = 2``) parse together; take ours.
    for node in body:
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else None
        if (first or node.lineno) == block.start and (node.end_lineno or node.lineno) == block.end:
            return node
    return body[0]


def parse_text(text: str) -> ast.stmt | None:
    if not text:
        return None
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return None
    return body[0] if len(body) == 1 else None
