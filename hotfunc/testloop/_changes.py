"""What a save changed in a file, as the test loop picks tests by it.

Two texts of one file are compared.  Functions are compared by their code,
line positions aside, and each function apart from the functions nested in
it: a changed method does not make its class changed.  Other statements, at
the top level and in class bodies, are compared by their syntax trees; a
changed one gives the names it binds (or, for a statement that binds none,
every name it mentions), which tests reach through the code that reads them.
"""

from __future__ import annotations

import ast
import dis
import sys
from collections import Counter
from types import CodeType

# Before 3.12 a list, set or dict comprehension is compiled as a function of
# its own; from 3.12 on (PEP 709) it is part of the code around it.  The loop
# takes it as part of the code around it on every Python: a test that ran a
# function read what its comprehensions read, whether they ran or not, and
# the tests a save selects are the same on every version.
_OWN_CODE = sys.version_info < (3, 12)
_COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>"})


def inlined(code: CodeType) -> bool:
    """Whether ``code`` is a comprehension that 3.12 and later compile into its parent."""
    return _OWN_CODE and code.co_name in _COMPREHENSIONS


def key_name(qualname: str) -> str:
    """``qualname`` as 3.12 and later name the code: without comprehension scopes."""
    if not _OWN_CODE or "comp>" not in qualname:
        return qualname
    parts = qualname.split(".")
    kept: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i] in _COMPREHENSIONS:
            i += 2 if i + 1 < len(parts) and parts[i + 1] == "<locals>" else 1
            continue
        kept.append(parts[i])
        i += 1
    if kept and kept[-1] == "<locals>":
        kept.pop()
    return ".".join(kept) or "<module>"


def reads(code: CodeType) -> frozenset[str]:
    """The global and attribute names ``code`` reads, its comprehensions' included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType) and inlined(const):
            names |= reads(const)
    return frozenset(names)


class Change:
    """The qualified names of changed functions and classes, and the changed names."""

    __slots__ = ("names", "qualnames")

    def __init__(self) -> None:
        self.qualnames: set[str] = set()
        self.names: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.qualnames or self.names)


class Snapshot:
    """One text of a file, parsed and compiled once: the next save compares with it."""

    __slots__ = ("body", "codes", "text")

    def __init__(self, text: str, filename: str) -> None:
        """Raises SyntaxError when ``text`` does not parse."""
        tree = ast.parse(text, filename)
        self.text = text
        self.body = tree.body
        self.codes = _codes(tree, filename)


def compare(old: str | Snapshot, new: str | Snapshot, filename: str) -> Change:
    """What changed from ``old`` to ``new``; raises SyntaxError when ``new`` does not parse."""
    change = Change()
    if not isinstance(new, Snapshot):
        new = Snapshot(new, filename)
    if not isinstance(old, Snapshot):
        try:
            old = Snapshot(old, filename)
        except SyntaxError:  # the last text seen was mid-save: everything is new
            old = Snapshot("", filename)
    _statements(old.body, new.body, "", change)
    for qualname in old.codes.keys() | new.codes.keys():
        if old.codes.get(qualname) != new.codes.get(qualname):
            change.qualnames.add(qualname)
    change.qualnames.discard("<module>")
    return change


def _codes(tree: ast.Module, filename: str) -> dict[str, list[CodeType]]:
    """Each code object of the file by qualified name, without positions or nested code."""
    found: dict[str, list[CodeType]] = {}
    try:
        stack = [compile(tree, filename, "exec", dont_inherit=True)]
    except (SyntaxError, ValueError):
        return found
    while stack:
        code = stack.pop()
        found.setdefault(key_name(code.co_qualname), []).append(_flat(code))
        nested = [c for c in code.co_consts if isinstance(c, CodeType)]
        while nested:
            inner = nested.pop()
            if inlined(inner):  # compared within its parent; what it nests is not
                nested.extend(c for c in inner.co_consts if isinstance(c, CodeType))
            else:
                stack.append(inner)
    return found


def _flat(code: CodeType) -> CodeType:
    """``code`` without positions, nested functions by name, comprehensions inside."""
    consts = [
        (_flat(c) if inlined(c) else ("<code>", key_name(c.co_qualname)))
        if isinstance(c, CodeType)
        else c
        for c in code.co_consts
    ]
    bytecode = code.co_code
    if "__firstlineno__" in code.co_names:
        # 3.13: a class body stores its line, so a class below an edit would
        # count as changed, and every test that ran one of its methods.
        loaded: dis.Instruction | None = None
        for instruction in dis.get_instructions(code):
            if instruction.opname == "STORE_NAME" and instruction.argval == "__firstlineno__":
                if loaded is not None and loaded.opname == "LOAD_CONST" and loaded.arg is not None:
                    consts[loaded.arg] = "<line>"
                elif loaded is not None and loaded.opname == "LOAD_SMALL_INT":  # 3.14
                    at = loaded.offset + 1
                    bytecode = bytecode[:at] + b"\0" + bytecode[at + 1 :]
                break
            loaded = instruction
    return code.replace(
        co_firstlineno=1, co_linetable=b"", co_consts=tuple(consts), co_code=bytecode
    )


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _statements(old: list[ast.stmt], new: list[ast.stmt], prefix: str, change: Change) -> None:
    """Statements of one body (the module's or a class's) that differ, as names."""
    old_classes = {s.name: s for s in old if isinstance(s, ast.ClassDef)}
    for stmt in new:
        if isinstance(stmt, ast.ClassDef):
            before = old_classes.pop(stmt.name, None)
            if before is None or _header(before) != _header(stmt):
                change.names.add(stmt.name)
                change.qualnames.add(prefix + stmt.name)
            else:
                _statements(before.body, stmt.body, f"{prefix}{stmt.name}.", change)
    for gone in old_classes.values():
        change.names.add(gone.name)
    # Everything else: a multiset of texts, so that moving a statement is no change.
    old_rest = Counter(_dump(s) for s in old if not isinstance(s, ast.ClassDef))
    new_rest = Counter(_dump(s) for s in new if not isinstance(s, ast.ClassDef))
    changed = (old_rest - new_rest) + (new_rest - old_rest)
    if not changed:
        return
    for stmt in [*old, *new]:
        if not isinstance(stmt, ast.ClassDef) and _dump(stmt) in changed:
            change.names |= _names(stmt)
            if prefix and not isinstance(stmt, _DEFS):
                # A class attribute: the methods that read it through self.
                change.qualnames.add(prefix.rstrip("."))


def _header(node: ast.ClassDef) -> str:
    return ast.dump(ast.ClassDef(node.name, node.bases, node.keywords, [], node.decorator_list))


def _dump(stmt: ast.stmt) -> str:
    if isinstance(stmt, _DEFS):
        # The body is compared as code; the rest (decorators, defaults) here.
        head = type(stmt)(stmt.name, stmt.args, [], stmt.decorator_list, stmt.returns)
        return ast.dump(head)
    return ast.dump(stmt)


def _names(stmt: ast.stmt) -> set[str]:
    """The names a statement binds, or when it binds none, every name it mentions."""
    if isinstance(stmt, (*_DEFS, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).partition(".")[0] for a in stmt.names}
    if isinstance(stmt, _COMPOUND):
        bound = _bound(stmt)
        if bound:
            return bound
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    mentioned: set[str] = set()
    roots: list[ast.AST] = [*targets] if targets else [stmt]
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Name):
                mentioned.add(node.id)
            elif isinstance(node, ast.Attribute):
                mentioned.add(node.attr)
    return mentioned


# Statements whose bodies run once, at most: what they bind is what they change
# (``if sys.version_info >= ...: X = ...``, ``try: import y except: y = None``).
_COMPOUND = (ast.If, ast.Try, ast.TryStar, ast.With)
_SCOPES = (
    *_DEFS,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _bound(stmt: ast.stmt) -> set[str]:
    """The names a compound statement binds in its own scope, and the attributes it sets."""
    bound: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES) and node is not stmt:
            if isinstance(node, (*_DEFS, ast.ClassDef)):
                bound.add(node.name)
            continue  # what it binds inside is its own
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= _names(node)
        elif isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            for part in ast.walk(node):
                if isinstance(part, ast.Name):
                    bound.add(part.id)
                elif isinstance(part, ast.Attribute):
                    bound.add(part.attr)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return bound
