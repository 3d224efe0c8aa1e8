"""Other modules' copies of a rebound name: ``from m import NAME`` and ``import *``.

Rule 4 of ``_dependents``: a copy is rebound to the new object when the
importing module's own text imports it from the module saved, or when the
object is one that module made itself.  Another module's equal constant is
left alone.
"""

from __future__ import annotations

import ast
import bisect
import os
import re
import sys
from types import ModuleType

from .._state import registry
from ..core import _text
from ..core._sourcefile import SourceFile
from ..core._wrappers import is_instance, probe
from ._apply import Rebind
from ._live import MISSING
from ._statements import summarize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# -- other modules ----------------------------------------------------------------


def exports(namespace: dict[str, Any]) -> set[str] | None:
    """What ``from m import *`` takes: ``__all__``, or the public names; None if unknown."""
    names = namespace.get("__all__", MISSING)
    if names is MISSING:
        return {n for n in namespace if not n.startswith("_")}
    try:
        return {n for n in names if isinstance(n, str)}
    except Exception:
        return None


def _atom(value: object) -> bool:
    """Values Python may share between unrelated modules (small ints, interned strings)."""
    return type(value) in (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


def rebind_copies(
    module: str,
    namespace: dict[str, Any],
    rebinds: dict[str, Rebind],
    new_exports: set[str],
    hot_namespaces: list[dict[str, Any]],
    rebound: dict[int, dict[str, Rebind]] | None = None,
) -> list[str]:
    """Rule 4: rebind other modules' copies; returns ``module.name`` of each rebound.

    The modules of ``hot_namespaces`` (the application's) are searched for
    copies under any name; the others, which are many, for copies under
    the name itself, at one look-up each.  ``rebound`` gets, by the id of
    each hot namespace, the copies rebound there, for its statements that
    read them to be followed.
    """
    done: list[str] = []
    # By identity: equal small ints and strings are one object, so several
    # names may have held it.
    olds: dict[int, list[str]] = {}
    for name, rebind in rebinds.items():
        if rebind.old is not MISSING:
            olds.setdefault(id(rebind.old), []).append(name)
    searched = {id(n) for n in hot_namespaces}
    sample = _sample(namespace, rebinds, new_exports)
    for other in list(sys.modules.values()):
        globals_ = _globals_of(other)
        if globals_ is None or globals_ is namespace:
            continue
        if id(globals_) in searched:
            held = [
                (key, olds[id(v)])
                for key, v in list(globals_.items())
                if id(v) in olds and rebinds[olds[id(v)][0]].old is v
            ]
        else:
            held = [
                (name, [name])
                for name, r in rebinds.items()
                if r.old is not MISSING and globals_.get(name, MISSING) is r.old
            ]
        star_candidate = bool(new_exports) and (
            id(globals_) in searched
            or (bool(sample) and all(globals_.get(k) is v for k, v in sample))
        )
        if not held and not star_candidate:
            continue
        other_name = str(globals_.get("__name__", ""))
        if other_name.startswith("hotfunc"):
            continue
        imported = _imports(globals_, module)  # the module's own text says what it copied
        star = bool(new_exports) and imported.star
        for key, names in held:
            copied = _copied(key, names, imported, star)
            if copied is None:
                continue
            new = rebinds[copied].new
            owned = not _atom(new) and probe(rebinds[copied].old, "__module__") == module
            if new is MISSING or not (owned or imported.names.get(key) == copied or star):
                continue
            old = globals_.get(key, MISSING)
            globals_[key] = new
            done.append(f"{other_name}.{key}")
            if rebound is not None and id(globals_) in searched:
                rebound.setdefault(id(globals_), {})[key] = Rebind(old, new, 0)
        if star:
            for name in sorted(new_exports):
                if name in namespace and globals_.get(name, MISSING) is not namespace[name]:
                    old = globals_.get(name, MISSING)
                    globals_[name] = namespace[name]
                    done.append(f"{other_name}.{name}")
                    if rebound is not None and id(globals_) in searched:
                        rebound.setdefault(id(globals_), {})[name] = Rebind(old, namespace[name], 0)
    return done


def _copied(key: str, names: list[str], imported: _Imports, star: bool) -> str | None:
    """Which of ``names`` the global ``key`` is a copy of, or None if that cannot be told."""
    source = imported.names.get(key)
    if source in names:
        return source
    if star and key in names:
        return key
    return names[0] if len(names) == 1 else None


def _sample(
    namespace: dict[str, Any], rebinds: dict[str, Rebind], new_exports: set[str]
) -> list[tuple[str, object]]:
    """A few exported objects this save left alone: a module that did
    ``import *`` holds them all, and few others do."""
    if not new_exports:
        return []
    found: list[tuple[str, object]] = []
    for name in sorted(exports(namespace) or ()):
        value = namespace.get(name, MISSING)
        if name in rebinds or value is MISSING or _atom(value):
            continue
        if probe(value, "__module__") != namespace.get("__name__"):
            continue  # an import: other modules hold it too
        found.append((name, value))
        if len(found) == 3:
            break
    return found


def _globals_of(module: object) -> dict[str, Any] | None:
    if not is_instance(module, ModuleType):
        return None
    try:
        found = object.__getattribute__(module, "__dict__")
    except Exception:
        return None
    return found if type(found) is dict else None


class _Imports:
    """What one module's text imports from another: names by local name, and ``*``."""

    __slots__ = ("names", "star")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.star = False


# Parsed imports of a file, by (path, size, mtime): reading a module's text is
# done once per version of it.
_imports_cache: dict[str, tuple[tuple[int, int], list[tuple[str, list[tuple[str, str]]]]]] = {}

_FROM = re.compile(r"^[ \t]*from[ \t]+[\w.]+[ \t]+import\b", re.MULTILINE)


def _imports(globals_: dict[str, Any], module: str) -> _Imports:
    """What the module of ``globals_`` imports from ``module``, by its own text."""
    found = _Imports()
    path = globals_.get("__file__")
    if not isinstance(path, str) or not path.endswith(".py"):
        return found
    package = globals_.get("__package__")
    if not isinstance(package, str):
        package = str(globals_.get("__name__", "")).rpartition(".")[0]
    for source, names in _from_imports(path):
        if _resolve(source, package) != module:
            continue
        for name, local in names:
            if name == "*":
                found.star = True
            else:
                found.names[local] = name
    return found


def _resolve(source: str, package: str) -> str:
    level = len(source) - len(source.lstrip("."))
    if not level:
        return source
    parts = package.split(".") if package else []
    base = ".".join(parts[: len(parts) - level + 1]) if level <= len(parts) else ""
    rest = source[level:]
    return f"{base}.{rest}" if base and rest else base or rest


def _from_imports(path: str) -> list[tuple[str, list[tuple[str, str]]]]:
    try:
        info = os.stat(path)
    except OSError:
        return []
    stamp = (info.st_size, info.st_mtime_ns)
    cached = _imports_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        text = _text.decode(registry.read_source(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    lines = _text.split_lines(text)
    offsets = _text.line_starts(lines)
    found: list[tuple[str, list[tuple[str, str]]]] = []
    for match in _FROM.finditer(text):
        first = bisect.bisect_right(offsets, match.start()) - 1
        for length in range(1, 33):  # a parenthesised import spans lines
            snippet = "".join(lines[first : first + length]).strip()
            try:
                statement = ast.parse(snippet).body[0]
            except (SyntaxError, IndexError, ValueError, RecursionError, MemoryError):
                continue
            if isinstance(statement, ast.ImportFrom):
                source = "." * statement.level + (statement.module or "")
                names = [(a.name, a.asname or a.name) for a in statement.names]
                found.append((source, names))
            break
    _imports_cache[path] = (stamp, found)
    return found


def readers_elsewhere(
    module: str, rebinds: dict[str, Rebind], sources: list[SourceFile]
) -> list[tuple[SourceFile, str, str]]:
    """Top-level statements of other hot modules that read ``module.NAME`` of a rebound name.

    ``X = m.LIMIT * 2`` in another module was built from the old value, and
    is not run again behind that module's back: it is reported, as
    (its file, the statement's text, the message).
    """
    target = sys.modules.get(module)
    names = sorted(n for n, r in rebinds.items() if r.old is not MISSING)
    if target is None or not names:
        return []
    found: list[tuple[SourceFile, str, str]] = []
    for source in sources:
        namespace = source.namespace
        if namespace is None or source.path is None or namespace.get("__name__") == module:
            continue
        aliases = sorted(k for k, v in list(namespace.items()) if v is target)
        if not aliases:
            continue
        text = source.live_text()
        either = "|".join(map(re.escape, aliases))
        pattern = re.compile(rf"\b(?:{either})\.(?:{'|'.join(map(re.escape, names))})\b")
        if pattern.search(text) is None:
            continue  # a look in C first: most modules read no changed name
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        lines = _text.split_lines(text)
        for statement in tree.body:
            read = _attribute_reads(statement, set(aliases), set(names))
            if read is None:
                continue
            first = getattr(statement, "decorator_list", None)
            start = first[0].lineno if first else statement.lineno
            key = "".join(lines[start - 1 : statement.end_lineno or statement.lineno])
            found.append(
                (
                    source,
                    key,
                    f"{source.path}:{start}: {summarize(statement)!r} reads {module}.{read}, "
                    "which a save of that module changed, and was not run again; it still "
                    "holds what it made from the old value (save the statement to run it "
                    "again, or restart)",
                )
            )
    return found


def _attribute_reads(node: ast.AST, aliases: set[str], names: set[str]) -> str | None:
    """The first ``alias.NAME`` that ``node`` reads when it runs (not in function bodies)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        parts: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            parts.extend(node.decorator_list)
        children = iter(parts)
    elif (
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and node.attr in names
    ):
        return node.attr
    else:
        children = ast.iter_child_nodes(node)
    for child in children:
        found = _attribute_reads(child, aliases, names)
        if found is not None:
            return found
    return None
