"""Find a live function's definition again in a compiled file.

Pure functions: a function is known by its qualname and its occurrence (its
branch, and its index among the definitions of that name in the branch),
which outlive the lines it moves to.
"""

from __future__ import annotations

import ast

from ._recompile import (
    FUNCTION_NODES,
    Block,
    CompiledSource,
    Definition,
    FunctionNode,
    Located,
    Occurrence,
    parse_at,
)


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


def node_of(compiled: CompiledSource, located: Located) -> FunctionNode:
    """The ``def`` statement's syntax tree, parsed again from its block's text.

    Compiled files keep no syntax trees, which would cost far more memory than
    the text; the few definitions whose signature changed are parsed again.
    """
    block = located.block
    tree = parse_at("".join(compiled.lines[block.start - 1 : block.end]), block.start)
    for node in ast.walk(tree):
        if isinstance(node, FUNCTION_NODES) and node.lineno == located.lineno:
            return node
    msg = f"no def of {located.definition.qualname!r} at line {located.lineno}"
    raise LookupError(msg)
