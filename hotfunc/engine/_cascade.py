"""What a save reaches in other hot modules, brought to a fresh import's state.

A save that rebuilds a class leaves its subclasses elsewhere built on the old
one.  A fresh import would run their class statements again, on the new base:
so does this, in the order the modules were imported, each subclass's own
module followed as a save of it is (the copies other modules hold, the
statements that read it, its own subclasses), until no subclass is left.
Existing instances keep their old class; that is reported, once per class.
A module that held a copy of a rebound name (``from m import Field``) has
its statements that read it followed the same way.  When a decorator's own
code changed, the top-level definitions it decorated run again, as a fresh
import would run them.
"""

from __future__ import annotations

import ast

from .._state import registry
from ..core import _text
from ..core._sourcefile import SourceFile
from ..core._wrappers import probe
from . import _plan, _recompile, _statements
from ._apply import Applier, Rebind
from ._dependents import rebuilt_subclasses
from ._read import Compiled


def hot_subclasses(
    rebinds: dict[str, Rebind], saved: SourceFile, elsewhere: dict[int, Elsewhere]
) -> set[int]:
    """Put in ``elsewhere`` the subclasses of the classes a save rebuilt that a hot module
    of their own defines at its top level; return the ids of those classes.

    Subclasses in the saved module are its own statements' business, followed
    with the rest of it.
    """
    ids: set[int] = set()
    homes = {
        s.namespace.get("__name__"): s
        for s in registry.sources()
        if s is not saved and s.namespace is not None and s.path is not None
    }
    for _, sub in rebuilt_subclasses(rebinds):
        home = homes.get(probe(sub, "__module__"))
        name = probe(sub, "__qualname__")
        if home is None or not isinstance(name, str) or "." in name:
            continue
        assert home.namespace is not None
        if home.namespace.get(name) is not sub:
            continue  # not what its module's name holds: nothing to rebuild
        elsewhere.setdefault(id(home), Elsewhere(home)).subclasses.append(sub)
        ids.add(id(sub))
    return ids


class Elsewhere:
    """What a save reached in another hot module: subclasses to rebuild, copies rebound."""

    __slots__ = ("copies", "decorated", "source", "subclasses")

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.subclasses: list[type] = []
        #: Names of the module that held a copy of what the save rebound.
        self.copies: dict[str, Rebind] = {}
        #: Top-level definitions to run again, by name, with the changed decorator.
        self.decorated: dict[str, str] = {}


def applier_for(source: SourceFile) -> tuple[Applier, Compiled] | None:
    """An applier for ``source``'s module as it is live, with its text compiled whole;
    None when its text cannot be had.  The caller holds the file's lock."""
    path = source.path
    if path is None or source.namespace is None:
        return None
    text = source.live_text()
    if not text:
        try:
            text = _text.decode(registry.read_source(path))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None
    try:
        compiled = _recompile.compile_source(text, source.filename)
    except (SyntaxError, ValueError):
        return None
    return Applier(source, compiled, path), Compiled(path, compiled, compiled)


def run_again(
    applier: Applier, compiled: Compiled, subclasses: list[type], decorated: dict[str, str]
) -> None:
    """Run again, in the applier's module, in one pass over its statements: the class
    statements of ``subclasses``, whose base was rebuilt, and the top-level definitions
    in ``decorated``, by name with their changed decorator.  A class in both runs once."""
    bases = {f"{b.__module__}.{b.__qualname__}" for s in subclasses for b in s.__bases__}
    rebuilt = {probe(sub, "__qualname__") for sub in subclasses}
    new = compiled.compiled
    for block in new.blocks:
        node = _statements.parse_block_or_none(new, block)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.ClassDef) and node.name in rebuilt:
            why = f"a base class was rebuilt: {', '.join(sorted(bases))}"
        elif node.name in decorated:
            why = f"its decorator changed: {decorated[node.name]}"
        else:
            continue
        kind = _plan.REBUILD if isinstance(node, ast.ClassDef) else _plan.REDEFINE
        action = _plan.Action(kind, block, node, block.text(new.lines))
        action.summary = f"{node.name} ({why})"
        applier.run(action)
