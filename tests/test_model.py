"""Model-based test: random edit sequences through the real watcher match a simple model."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import shutil
import sys
import threading
import time

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import hotfunc  # noqa: E402
from hotfunc.testing import wait_for, write_source  # noqa: E402

NAMES = [f"fn{i}" for i in range(6)]
EXAMPLES = int(os.environ.get("HOTFUNC_FUZZ_EXAMPLES", "300"))
_counter = itertools.count()


def render(pad: int, funcs: dict[str, tuple[int, int]]) -> tuple[str, dict[str, int]]:
    """Source for the model, and the line each function's @hot decorator lands on."""
    lines = ["from hotfunc import hot"] + ["# padding"] * pad
    where = {}
    for name, (default, value) in funcs.items():
        lines.append("")
        where[name] = len(lines) + 1
        lines += ["@hot", f"def {name}(x={default}):", f"    return x + {value}"]
    return "\n".join(lines) + "\n", where


values = st.integers(-50, 50)
edits = st.one_of(
    st.tuples(st.just("body"), st.sampled_from(NAMES), values),
    st.tuples(st.just("default"), st.sampled_from(NAMES), values),
    st.tuples(st.just("add"), st.sampled_from(NAMES), values),
    st.tuples(st.just("remove"), st.sampled_from(NAMES), values),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("syntax"), st.just(""), values),
    st.tuples(st.just("insert"), st.just(""), st.integers(1, 5)),
    st.tuples(st.just("recreate"), st.just(""), values),
    st.tuples(st.just("refolder"), st.just(""), values),
)
# How the save is written: in place, through a rename, or in chunks with a
# pause between them (vim writes 4 KB at a time).
step = st.tuples(edits, st.sampled_from(["plain", "atomic", "chunked"]))


def save(path, text: str, how: str) -> None:
    if how != "chunked":
        write_source(path, text, atomic=how == "atomic")
        return
    data = text.encode()
    half = len(data) // 2
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, data[:half])
        time.sleep(0.002)  # not a check: a writer between its two writes
        os.write(fd, data[half:])
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.dictionaries(st.sampled_from(NAMES), st.tuples(values, values), min_size=1),
    steps=st.lists(step, min_size=1, max_size=8),
)
@pytest.mark.usefixtures("watching")
def test_edits_match_the_model(folder, initial, steps):
    """After any edit sequence that ends in valid source, hot functions do what it says."""
    number = next(_counter)
    name = f"model_{number}"
    package = folder / f"pkg_{number}"  # a folder of its own, to delete and make again
    package.mkdir()
    (package / "__init__.py").write_text("")
    path = package / f"{name}.py"
    pad = 0
    funcs = dict(initial)
    write_source(path, render(pad, funcs)[0])
    importlib.invalidate_caches()
    mod = importlib.import_module(f"pkg_{number}.{name}")
    registered = {n: getattr(mod, n) for n in funcs}

    for (kind, target, arg), how in steps:
        if kind in ("body", "default") and target in funcs:
            default, value = funcs[target]
            funcs[target] = (arg, value) if kind == "default" else (default, arg)
        elif kind == "add" and target not in funcs:
            funcs[target] = (arg, arg)
        elif kind == "remove" and len(funcs) > 1:
            funcs.pop(target, None)
        elif kind == "rename" and target in funcs and arg not in funcs:
            funcs = {(arg if n == target else n): v for n, v in funcs.items()}
        elif kind == "insert":
            pad += arg
        if kind == "syntax":
            save(path, render(pad, funcs)[0] + "def broken(:\n", how)
            continue
        if kind == "recreate":
            os.remove(path)
        if kind == "refolder":  # a branch switch: the whole folder goes and comes back
            shutil.rmtree(package)
            package.mkdir()
            (package / "__init__.py").write_text("")
        save(path, render(pad, funcs)[0], how)

    text, where = render(pad, funcs)
    write_source(path, text)  # the sequence ends in valid source

    def settled() -> bool:
        for fname, func in registered.items():
            entry = hotfunc.registry[func]
            if fname in funcs:
                default, value = funcs[fname]
                if func() != default + value or func.__code__.co_firstlineno != where[fname]:
                    return False
                if entry.error is not None or entry.lineno != where[fname]:
                    return False
            elif entry.error is None or "no longer defined" not in entry.error:
                return False
        return True

    wait_for(settled, timeout=10)
    reloader = [t for t in threading.enumerate() if t.name == "hotfunc-watcher"]
    assert hotfunc.is_running() and len(reloader) == 1 and reloader[0].is_alive()


FIDELITY_EXAMPLES = int(os.environ.get("HOTFUNC_FIDELITY_EXAMPLES", "25"))


def render_web(state: dict[str, int]) -> str:
    """A module whose names depend on each other: constants, defaults, a class, overloads."""
    lines = ["import typing", ""] + ["# padding"] * state["pad"]
    lines += [f"A = {state['a']}", f"B = A + {state['b']}", "PAIR = (A, B)", ""]
    lines += ["def f(x=A):", f"    return x + {state['fv']}", ""]
    if state["overloads"]:
        lines += ["@typing.overload", "def g(x: int) -> int: ...", "@typing.overload"]
        lines += ["def g(x: str) -> str: ...", ""]
    lines += ["def g(x):", f"    return x * {state['gv']}", ""]
    if state["helper"]:
        lines += ["def helper():", f"    return {state['gv']}", ""]
    lines += ["class K:", "    k = B", "", "    def m(self):", f"    return self.k + {state['mv']}"]
    lines[-1] = "        " + lines[-1].strip()
    return "\n".join(lines) + "\n"


web_edits = st.tuples(
    st.sampled_from(["a", "b", "fv", "gv", "mv", "pad", "overloads", "helper"]),
    st.integers(0, 9),
)


@settings(
    max_examples=FIDELITY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(web_edits, min_size=1, max_size=6))
@pytest.mark.usefixtures("watching")
def test_edit_sequences_match_a_fresh_import(folder, steps):
    """After random edits of names that depend on each other, the process is what a
    fresh import of the same files gives, or hotfunc said where not."""
    from hotfunc.testing import fresh_snapshot, unlike_fresh_import

    number = next(_counter)
    name, user = f"web_{number}", f"web_user_{number}"
    state = {"a": 1, "b": 2, "fv": 3, "gv": 4, "mv": 5, "pad": 0, "overloads": 0, "helper": 0}
    path = folder / f"{name}.py"
    write_source(path, render_web(state))
    write_source(
        folder / f"{user}.py",
        f"from {name} import A, B, K, f, g\n\ndef use():\n    return f() + A + g(1) + K().m()\n",
    )
    importlib.invalidate_caches()
    modules = [importlib.import_module(name), importlib.import_module(user)]
    for module in modules:
        hotfunc.hot(module)
    for key, value in steps:
        state[key] = value % 2 if key in ("overloads", "helper") else value
        write_source(path, render_web(state))
    text = render_web(state)
    source = next(s for s in hotfunc.registry.sources() if s.namespace is vars(modules[0]))

    def landed() -> bool:
        if source.baseline is not None:
            return source.baseline.text == text
        return (source.imported_bytes() or b"").decode() == text  # nothing changed

    wait_for(landed, timeout=10)
    fresh = fresh_snapshot([name, user], [str(folder)])
    unsaid: list[str] = []

    def faithful() -> bool:
        unsaid[:] = unlike_fresh_import([name, user], [], fresh)
        return not unsaid

    with contextlib.suppress(AssertionError):  # the assertion below says what differs
        wait_for(faithful, timeout=5)
    assert unsaid == []
    assert modules[1].use() == (
        state["a"] + state["fv"] + state["a"] + state["gv"] + state["a"] + state["b"] + state["mv"]
    )
