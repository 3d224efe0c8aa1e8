"""Helpers for testing code that uses hotfunc, in your own suite or in ours."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import CodeType, FunctionType

from . import _api, _state


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.002
) -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds.

    Exceptions the predicate raises count as "not yet" until the deadline, so a
    predicate may call a function that is mid-reload.

    Raises:
        AssertionError: the deadline passed; the message holds the last
            exception the predicate raised, if any.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if predicate():
                return
            last = None
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last!r}" if last is not None else ""
            msg = f"condition {predicate!r} still false after {timeout} s{detail}"
            raise AssertionError(msg)
        time.sleep(interval)


def write_source(path: str | os.PathLike[str], text: str, *, atomic: bool = False) -> None:
    """Write ``text`` to ``path`` as an editor would save it.

    With ``atomic``, write a temporary file beside it and rename it into place,
    as most editors and ``sed -i`` do.
    """
    target = Path(path)
    if not atomic:
        target.write_text(text, encoding="utf-8")
        return
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)


def reset() -> None:
    """Stop the watcher and forget every registered function, callback and open page."""
    _api.stop()
    _state.registry.clear()
    _state.callbacks.clear()
    _state.batch_listeners.clear()
    if _state.browser is not None:
        _state.browser.close()
        _state.browser = None


def snapshot(modules: Iterable[str]) -> dict[str, str]:
    """What a fresh import is compared by, for the loaded ``modules``.

    Keys are ``module.name`` and ``module.Class.member``; values describe
    each function's code (bytecode, names, constants and line numbers),
    each plain value (numbers, strings, containers of them) by its repr, and
    each class the module defines by its bases and members.  Other objects
    count by their type's name: an instance is not compared.
    """
    found: dict[str, str] = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        for key, value in list(vars(module).items()):
            if key.startswith("__") and key != "__all__":
                continue
            _describe(found, f"{name}.{key}", value, name, 0)
    return found


def fresh_snapshot(modules: Iterable[str], path: Iterable[str]) -> dict[str, str]:
    """:func:`snapshot` of a new interpreter that imports ``modules`` from ``path``."""
    names = list(modules)
    code = (
        "import json, sys\n"
        f"sys.path[:0] = {list(path)!r}\n"
        f"for name in {names!r}:\n"
        "    __import__(name)\n"
        "from hotfunc.testing import snapshot\n"
        f"print(json.dumps(snapshot({names!r})))\n"
    )
    # The same environment as this process: a module may read it at import.
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("HOTFUNC_FOLLOW", None)  # a fresh import follows no process's saves
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    if done.returncode != 0:
        msg = f"a fresh import of {names!r} failed:\n{done.stderr}"
        raise AssertionError(msg)
    result: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return result


def unlike_fresh_import(
    modules: Iterable[str], path: Iterable[str], fresh: dict[str, str] | None = None
) -> list[str]:
    """Where the loaded ``modules`` differ from a fresh import and hotfunc did not say so.

    Compares :func:`snapshot` of this process with :func:`fresh_snapshot`
    (or ``fresh``, one taken already); a difference counts as said when a
    stale report, a pending statement or a function's error names it.  An
    empty list is the promise kept.
    """
    names = list(modules)
    hot = snapshot(names)
    if fresh is None:
        fresh = fresh_snapshot(names, path)
    said = " ".join(
        [
            *_state.registry.stale(),
            *_state.registry.failures(),
            *(e.error or "" for e in _state.registry),
        ]
    )
    unsaid: list[str] = []
    for key in sorted(set(hot) | set(fresh)):
        if key not in fresh:
            continue  # a definition removed from the file stays live, by design
        if hot.get(key) == fresh[key]:
            continue
        parts = key.split(".")
        if any(re.search(rf"\b{re.escape(p)}\b", said) for p in parts[-2:] if p):
            continue
        unsaid.append(f"{key}: hot {hot.get(key)}, fresh import {fresh[key]}")
    return unsaid


_PLAIN = (int, float, complex, str, bytes, bool, type(None))


def _describe(out: dict[str, str], key: str, value: object, module: str, depth: int) -> None:
    kind = type(value)
    if kind is FunctionType:
        func: FunctionType = value  # type: ignore[assignment]
        out[key] = f"{_code(func.__code__)} defaults {_plain(func.__defaults__)}"
    elif kind in (staticmethod, classmethod):
        _describe(out, key, value.__func__, module, depth)  # type: ignore[attr-defined]
    elif kind is property:
        for part in ("fget", "fset", "fdel"):
            _describe(out, f"{key}.{part}", getattr(value, part), module, depth)
    elif isinstance(value, type) and depth < 4:
        cls: type = value
        out[key] = f"class {cls.__qualname__}({', '.join(b.__qualname__ for b in cls.__bases__)})"
        if cls.__module__ == module and key.endswith("." + cls.__name__):
            for name, member in list(vars(cls).items()):
                if name not in _CLASS_BOOKKEEPING:
                    _describe(out, f"{key}.{name}", member, module, depth + 1)
    else:
        plain = _plain(value)
        out[key] = plain if plain is not None else f"<{kind.__module__}.{kind.__qualname__}>"


_CLASS_BOOKKEEPING = frozenset(
    {"__dict__", "__weakref__", "__module__", "__firstlineno__", "__static_attributes__"}
)


def _plain(value: object, depth: int = 0) -> str | None:
    """A repr that is the same in every process, for plain data; None otherwise."""
    kind = type(value)
    if kind in _PLAIN:
        return repr(value)
    if depth > 3:
        return None
    items: list[str | None]
    if isinstance(value, (tuple, list, set, frozenset)) and kind in (tuple, list, set, frozenset):
        items = [_plain(v, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        texts = [str(i) for i in items]
        if kind in (set, frozenset):
            texts.sort()  # string hashes, and so set order, differ between processes
        return f"{kind.__name__}({', '.join(texts)})"
    if isinstance(value, dict) and kind is dict:
        pairs = [(_plain(k, depth + 1), _plain(v, depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def _code(code: CodeType) -> str:
    """The code, its constants and line numbers, as text the same in every process."""
    consts = []
    for const in code.co_consts:
        if isinstance(const, CodeType):
            consts.append(_code(const))
        else:
            consts.append(_plain(const) or f"<{type(const).__name__}>")
    digest = hashlib.sha1(code.co_code + code.co_linetable)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars, consts)).encode())
    return f"code {code.co_qualname} line {code.co_firstlineno} {digest.hexdigest()[:16]}"
