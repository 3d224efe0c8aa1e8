"""Carry out a save's planned statements in the live module.

Runs new and changed top-level statements in the module's namespace, sets new
class members on the live class, rebuilds classes that cannot be patched,
and makes what they define hot.  This runs the application's own code, so it
is called without the registry lock held.  Function bodies are swapped by the
reload engine, not here; this module only makes sure a changed function is
hot, so that the engine swaps it.
"""

from __future__ import annotations

import ast
import sys
import time
from types import FunctionType

from .. import adapters
from .._state import registry
from ..core import _codes
from ..core._redefinition import Redefinition
from ..core._sourcefile import SourceFile
from ..core._wrappers import is_instance, probe
from . import _history, _plan, _recompile, _statements
from ._decorator import register_defined
from ._live import (
    MISSING,
    functions_of,
    generated,
    holds_state,
    hot_new_modules,
    line_in,
    probe_dict,
    register_defined_member,
    replaced,
    source_of,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Rebind:
    """A module-level name a save bound to a new object, and the line that did it."""

    __slots__ = ("line", "new", "old")

    def __init__(self, old: object, new: object, line: int) -> None:
        self.old = old
        self.new = new
        self.line = line


# Names a class body sets for itself; never copied onto the live class.
_BOOKKEEPING = frozenset(
    {
        "__module__",
        "__qualname__",
        "__classcell__",
        "__classdictcell__",
        "__firstlineno__",
        "__static_attributes__",
        "__doc__",
    }
)


class Result:
    """What one action did, for the report."""

    __slots__ = ("error", "line", "notes", "target", "verb")

    def __init__(self, verb: str, target: str, line: int, error: str | None = None) -> None:
        self.verb = verb  # "ran", "added", "redefined", "rebuilt", "skipped" or "failed"
        self.target = target
        self.line = line
        self.error = error
        #: Extra lines for the log: what the user should know about the effect.
        self.notes: list[str] = []


class Applier:
    """Applies the statement actions of one save of one file."""

    def __init__(self, source: SourceFile, compiled: _recompile.CompiledSource, path: str) -> None:
        self.source = source
        self.path = path
        self.filename = source.filename
        self.flags = compiled.flags
        self.namespace: dict[str, Any] = source.namespace if source.namespace is not None else {}
        self.module = str(self.namespace.get("__name__", ""))
        self._blocks = compiled.blocks
        self._imported: set[str] | None = None
        self.lines = compiled.lines
        self.results: list[Result] = []
        #: (text before, text after) of each statement that ran, for diff().
        self.ran: list[tuple[str, str]] = []
        #: Entries given a new function object by this save: the engine must
        #: not also send their old function the new code.
        self.rebound: set[int] = set()
        #: Module-level names this save bound to new objects, in order.
        self.rebinds: dict[str, Rebind] = {}
        #: First lines of the statements this save ran.
        self.ran_lines: set[int] = set()

    @property
    def imported(self) -> set[str]:
        """Names the file imports, for compiling statements as the file does."""
        if self._imported is None:
            self._imported = _recompile.imported_names(self._blocks)
        return self._imported

    # -- before the swaps ------------------------------------------------------

    def prepare(self, actions: list[_plan.Action]) -> None:
        """Make hot each function whose body changed; decide what cannot be patched.

        Changes ``UPDATE`` to ``REDEFINE`` where no live function can take the
        new code, and ``MEMBERS`` to ``REBUILD`` where the live class cannot be
        patched member by member.
        """
        for action in actions:
            if action.kind == _plan.UPDATE and not self._adopt(
                self.namespace.get(action.name or "", None), action.node
            ):
                action.kind = _plan.REDEFINE
            elif (
                action.kind == _plan.DEFINE
                and not action.shadowed
                and isinstance(action.node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and self._adopt(self.namespace.get(action.name or "", None), action.node)
            ):
                # A def removed from the file left its function in the module
                # (and wherever the program keeps it); now it is back, that
                # function takes the code, and no second one is made.
                action.kind = _plan.UPDATE
            elif action.kind == _plan.MEMBERS:
                cls = self._live_class(action)
                node = action.node
                assert isinstance(node, ast.ClassDef)
                reason = (
                    "not found in the module"
                    if cls is None
                    else self._prepare_class(cls, node, action.members, node.name)
                )
                if reason is not None:
                    action.kind = _plan.REBUILD
                    action.summary = f"{action.name} ({reason})"

    def _prepare_class(
        self, cls: type, node: ast.ClassDef, members: list[_plan.Member], qualname: str
    ) -> str | None:
        """Why ``cls`` must be rebuilt, or None once its members are ready to patch."""
        if any(m.field for m in members):
            reason = generated(cls) or (replaced(cls) if node.decorator_list else None)
            if reason is not None:
                return reason
        for member in members:
            value = probe_dict(cls, member.name)
            if member.kind == _plan.UPDATE and not self._adopt(
                value, member.node, prefix=f"{qualname}."
            ):
                member.kind = _plan.RUN
            elif member.kind == _plan.MEMBERS:
                nested = f"{qualname}.{member.name}"
                assert isinstance(member.node, ast.ClassDef)
                if (
                    not is_instance(value, type)
                    or probe(value, "__qualname__") != nested
                    or self._prepare_class(value, member.node, member.members, nested)  # type: ignore[arg-type]
                ):
                    member.kind = _plan.RUN  # runs the nested class statement again
        return None

    def _adopt(self, value: object, node: ast.stmt, prefix: str = "") -> bool:
        """Register the live function ``node`` defined, if it is there to swap."""
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        return value is not None and register_defined_member(
            value, prefix + node.name, self.filename
        )

    def _live_class(self, action: _plan.Action) -> type | None:
        cls = self.namespace.get(action.name or "")
        if (
            is_instance(cls, type)
            and probe(cls, "__qualname__") == action.name
            and probe(cls, "__module__") == self.module
        ):
            return cls
        return None

    # -- running ---------------------------------------------------------------

    def run(self, action: _plan.Action) -> bool:
        """Carry out one action; return whether it succeeded."""
        done = self._run(action)
        if done and action.kind != _plan.SKIP:
            self.ran.append((action.previous or "", action.block.text(self.lines)))
        return done

    def _run(self, action: _plan.Action) -> bool:
        kind = action.kind
        if kind == _plan.SKIP:
            result = Result("skipped", "if __name__ == '__main__'", action.line)
            result.notes.append(
                f"{self._where(action.line)}: the if __name__ == '__main__' block changed; "
                "it is not run again (restart to run it)"
            )
            self.results.append(result)
            return True
        if kind == _plan.MEMBERS:
            return self._run_members(action)
        before = dict(self.namespace)
        loaded = set(sys.modules)
        redefinition = self._redefinition(action)
        settles = adapters.withdraw(redefinition) if redefinition is not None else []
        try:
            code = _recompile.compile_statements(
                [action.node], self.filename, self.flags, self.imported
            )
            exec(code, self.namespace)
        except (Exception, SystemExit) as exc:
            # SystemExit too: a changed sys.exit() must not end the watcher.
            self.results.append(self._failure(action, exc))
            hot_new_modules(loaded)
            if settles and redefinition is not None:
                adapters.settle(settles, redefinition, redefinition.old)
            return False
        if settles and redefinition is not None:
            adapters.settle(settles, redefinition, self.namespace.get(redefinition.name))
        if action.shadowed and action.name is not None:
            # The later definition of the name binds it, as at import.
            if action.name in before:
                self.namespace[action.name] = before[action.name]
            else:
                self.namespace.pop(action.name, None)
        verb = {
            _plan.DEFINE: "added",
            _plan.REDEFINE: "redefined",
            _plan.REBUILD: "rebuilt",
        }.get(kind, "ran")
        result = Result(verb, action.summary, action.line)
        if kind == _plan.REDEFINE and not settles:
            result.notes.append(
                f"{self._where(action.line)}: {action.name!r} ran again with its new "
                "decorators; what the old decorators registered may still be registered"
            )
        elif kind == _plan.REBUILD:
            result.notes.append(
                f"{self._where(action.line)}: class {action.name!r} was rebuilt; existing "
                "instances keep the old class"
            )
        if kind in (_plan.REDEFINE, _plan.REBUILD) and action.name is not None:
            self._rebind(action.name, self.namespace.get(action.name))
        self.ran_lines.add(action.block.start)
        hot_new_modules(loaded)
        for name, value in list(self.namespace.items()):
            old = before.get(name, MISSING)
            if old is value:
                continue
            known = self.rebinds.get(name)
            if known is None:
                self.rebinds[name] = Rebind(old, value, action.block.start)
            else:
                known.new = value
            register_defined(value, self.module)
            if kind == _plan.RUN and holds_state(old):
                result.notes.append(
                    f"{self._where(action.line)}: {name!r} now holds a new "
                    f"{type(value).__name__} object; whatever kept the old one (a server, "
                    "a registry, another module) still uses it"
                )
        self.results.append(result)
        return True

    def _redefinition(self, action: _plan.Action) -> Redefinition | None:
        """The definition ``action`` runs again, for the registry adapters; None for
        any other statement, and for a name that held nothing."""
        node = action.node
        if action.kind not in (_plan.REDEFINE, _plan.REBUILD) or not isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            return None
        old = self.namespace.get(node.name, MISSING)
        if old is MISSING:
            return None
        found: dict[int, object] = {}
        for decorator in node.decorator_list:
            registrar = _registrar(decorator, self.namespace)
            if registrar is not MISSING:
                found.setdefault(id(registrar), registrar)
        return Redefinition(
            self.module, node.name, old, tuple(found.values()), self.path, action.line
        )

    def note_ran(self, target: str, line: int) -> None:
        """Report something run on the module's behalf, such as defaults evaluated again."""
        self.results.append(Result("ran", target, line))

    def _run_members(self, action: _plan.Action) -> bool:
        node = action.node
        assert isinstance(node, ast.ClassDef)
        cls = self._live_class(action)
        if cls is None:
            return False
        try:
            self._patch(cls, node, action.members, node.name)
        except (Exception, SystemExit) as exc:
            self.results.append(self._failure(action, exc))
            return False
        decorators = [ast.unparse(d) for d in node.decorator_list]
        others = [d for d in decorators if d not in ("hot", "hotfunc.hot")]
        if others and any(m.field for m in action.members) and self.results:
            self.results[-1].notes.append(
                f"{self._where(action.line)}: class {action.name!r} got its new attributes in "
                f"place; its decorators ({', '.join('@' + d for d in others)}) did not run "
                "again, so what they made from the old attributes stays"
            )
        return True

    def _patch(
        self, cls: type, node: ast.ClassDef, members: list[_plan.Member], qualname: str
    ) -> None:
        """Run the changed members in a body of the class's own name; set them on ``cls``."""
        runnable = [m for m in members if m.kind in (_plan.RUN, _plan.DEFINE)]
        if runnable:
            shell = _codes.in_bare_classes([m.node for m in runnable], qualname.split("."), node)
            code = _recompile.compile_statements([shell], self.filename, self.flags, self.imported)
            body = _codes.class_body(code, qualname)
            if body is None or body.co_freevars:
                msg = f"cannot compile the body of class {qualname!r} apart from its module"
                raise RuntimeError(msg)
            namespace = dict(vars(cls))
            before = dict(namespace)
            exec(body, self.namespace, namespace)
            # Methods that use super() close over the class being built:
            # point them at the live class instead.
            cell = namespace.get("__classcell__")
            if cell is not None:
                cell.cell_contents = cls
            docstring = any(_statements.is_docstring(m.node) for m in runnable)
            rerun = {m.name for m in runnable if m.kind == _plan.RUN}
            for name, value in namespace.items():
                if name == "__doc__" and docstring:
                    cls.__doc__ = value
                elif name not in _BOOKKEEPING and before.get(name, MISSING) is not value:
                    setattr(cls, name, value)
                    if name in rerun:
                        self._rebind(f"{qualname}.{name}", value)
                    register_defined_member(value, f"{qualname}.{name}", self.filename)
            for member in runnable:
                verb = "added" if member.kind == _plan.DEFINE else "ran"
                self.results.append(
                    Result(verb, f"{qualname}.{member.summary}", member.node.lineno)
                )
        for member in members:
            if member.kind == _plan.MEMBERS:
                nested = probe_dict(cls, member.name)
                assert isinstance(member.node, ast.ClassDef)
                self._patch(nested, member.node, member.members, f"{qualname}.{member.name}")  # type: ignore[arg-type]

    def _rebind(self, name: str, value: object) -> None:
        """Point the entries of a definition that ran again at its new functions."""
        made: dict[str, list[FunctionType]] = {}
        for func in functions_of(value, name):
            made.setdefault(func.__code__.co_qualname, []).append(func)

        def defined_by(qualname: str) -> bool:
            return qualname == name or (
                qualname.startswith(name + ".") and "<locals>" not in qualname
            )

        source = self.source
        registry.build(source, [f for f in source.deferred if defined_by(f.__code__.co_qualname)])
        for entry in sorted(registry.entries_of(source, build=False), key=lambda e: e.lineno):
            qualname = entry.qualname
            if not defined_by(qualname):
                continue
            self.rebound.add(id(entry))
            funcs = made.get(qualname)
            if not funcs:
                registry.forget(entry)
                continue
            func = funcs.pop(0)
            changed = not _codes.same_behaviour(entry.code, func.__code__)
            old = entry.functions
            if changed and entry._history is None and old:
                _history.record(entry, "", old[0])  # the version it had, for diff and rollback
            registry.retarget(entry, func)
            if changed:
                entry.version += 1
                entry.reloaded_at = time.time()
                _history.record(entry, source_of(func), func)

    def _failure(self, action: _plan.Action, exc: BaseException) -> Result:
        line = line_in(exc.__traceback__, self.filename, action.line)
        what = {
            _plan.REDEFINE: f"running the definition of {action.name!r} again",
            _plan.REBUILD: f"rebuilding class {action.name!r}",
            _plan.DEFINE: f"defining {action.summary!r}",
            _plan.MEMBERS: f"setting the new members of class {action.name!r}",
        }.get(action.kind, f"running {action.summary!r}")
        keeps = "the old definition stays live; " if action.previous else ""
        restart = (
            "; a restart is needed if the framework refuses definitions while it runs"
            if action.kind in (_plan.REDEFINE, _plan.DEFINE, _plan.REBUILD)
            else ""
        )
        message = " ".join(str(exc).split())  # one line, however the exception wraps
        error = (
            f"{self.path}:{line}: {what} raised {type(exc).__name__}: {message}; "
            f"{keeps}it runs again at every save until it succeeds{restart}"
        )
        return Result("failed", action.summary, line, error)

    def _where(self, line: int) -> str:
        return f"{self.path}:{line}"


def _registrar(decorator: ast.expr, namespace: dict[str, object]) -> object:
    """What a decorator is looked up on, by names and attributes alone: ``app`` for
    ``@app.route("/")``, the function for ``@register``; MISSING when it cannot be
    had without running code."""
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    chain: list[str] = []
    while isinstance(decorator, ast.Attribute):
        chain.append(decorator.attr)
        decorator = decorator.value
    if not isinstance(decorator, ast.Name):
        return MISSING
    value = namespace.get(decorator.id, MISSING)
    for attr in reversed(chain[1:]):
        value = probe(value, attr) if value is not MISSING else MISSING
        if value is None:
            return MISSING
    return value
