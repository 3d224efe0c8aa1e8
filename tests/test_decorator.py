"""What @hot accepts, what it returns, and what it registers."""

from __future__ import annotations

import functools
import importlib
import logging
import subprocess
import sys

import pytest

import hotfunc
from hotfunc import hot


def test_returns_the_same_object(project):
    """hot(f) is f: no wrapper is ever added."""
    mod = project.load(
        """
        from hotfunc import hot
        def plain(x):
            return x
        same = hot(plain) is plain
        """
    )
    assert mod.same
    assert hotfunc.registry[mod.plain].functions == [mod.plain]


def test_every_kind_of_function_registers(project):
    """Plain, async, generator and async generator functions all register."""
    mod = project.load(
        """
        from hotfunc import hot
        @hot
        def plain(): return 1
        @hot
        async def coro(): return 1
        @hot
        def gen(): yield 1
        @hot
        async def agen(): yield 1
        """
    )
    names = {e.name.rsplit(".", 1)[1] for e in hotfunc.registry}
    assert names == {"plain", "coro", "gen", "agen"}
    assert hotfunc.registry[f"{mod.__name__}.coro"].version == 0


def test_methods_in_either_stacking_order(project):
    """staticmethod, classmethod and property register whether @hot is above or below them."""
    mod = project.load(
        """
        from hotfunc import hot
        class C:
            @hot
            def m(self): return 1
            @hot
            @staticmethod
            def s1(): return 1
            @staticmethod
            @hot
            def s2(): return 1
            @hot
            @classmethod
            def c1(cls): return 1
            @classmethod
            @hot
            def c2(cls): return 1
            @hot
            @property
            def p(self): return 1
            @p.setter
            @hot
            def p(self, v): pass
        """
    )
    qualnames = sorted(e.qualname for e in hotfunc.registry)
    assert qualnames == ["C.c1", "C.c2", "C.m", "C.p", "C.p", "C.s1", "C.s2"]
    assert isinstance(mod.C.__dict__["s1"], staticmethod)
    assert hotfunc.registry[mod.C.s1].qualname == "C.s1"
    assert (
        hotfunc.registry[mod.C.__dict__["p"].fset].lineno
        > hotfunc.registry[mod.C.__dict__["p"].fget].lineno
    )


def test_class_registers_its_body(project):
    """@hot on a class registers its body's functions and nested classes, not aliases."""
    mod = project.load(
        """
        from hotfunc import hot
        def outside(self): return 0
        @hot
        class Service:
            alias = outside
            def m(self): return 1
            @staticmethod
            def s(): return 1
            @classmethod
            def c(cls): return 1
            @property
            def p(self): return 1
            @p.setter
            def p(self, v): pass
            class Inner:
                def deep(self): return 1
        """
    )
    qualnames = sorted(e.qualname for e in hotfunc.registry)
    assert qualnames == [
        "Service.Inner.deep",
        "Service.c",
        "Service.m",
        "Service.p",
        "Service.p",
        "Service.s",
    ]
    assert mod.Service.alias is mod.outside


def test_wraps_decorators_are_followed(project):
    """@hot outside a functools.wraps decorator registers the wrapped function, not the wrapper."""
    mod = project.load(
        """
        import functools
        from hotfunc import hot
        def deco(f):
            @functools.wraps(f)
            def wrapper(*a, **k):
                return f(*a, **k)
            return wrapper
        @hot
        @deco
        def outer(): return 1
        @deco
        @hot
        def inner(): return 1
        """
    )
    assert sorted(e.qualname for e in hotfunc.registry) == ["inner", "outer"]
    assert hotfunc.registry[mod.outer].functions == [mod.outer.__wrapped__]


def test_a_top_level_wrapper_is_followed_too(project):
    """A module-level function that functools.update_wrapper made a wrapper is followed
    to what it wraps, though no ``<locals>`` in its name gives it away."""
    mod = project.load(
        """
        import functools
        from hotfunc import hot
        def target(): return 1
        def wrapper(): return target() + 1
        functools.update_wrapper(wrapper, target)
        hot(wrapper)
        """
    )
    assert [e.qualname for e in hotfunc.registry] == ["target"]
    assert hotfunc.registry[mod.wrapper].functions == [mod.target]


def test_nested_functions_share_one_entry(project):
    """Closures made by one factory share one entry holding every live instance."""
    mod = project.load(
        """
        from hotfunc import hot
        def make(n):
            @hot
            def inner(): return n
            return inner
        a, b = make(1), make(2)
        """
    )
    entry = hotfunc.registry[mod.a]
    assert entry is hotfunc.registry[mod.b]
    assert len(hotfunc.registry) == 1
    assert set(map(id, entry.functions)) == {id(mod.a), id(mod.b)}


@pytest.mark.parametrize("bad", [42, "text", functools.partial(print), len, None])
def test_rejects_what_is_not_a_function(bad):
    """hot() on a non-function raises TypeError naming the object."""
    with pytest.raises(TypeError, match="hot\\(\\) takes a function, a class or a module"):
        hot(bad)


def test_function_without_source_warns(caplog):
    """A function made by exec() is accepted, with one warning and an entry error."""
    namespace: dict[str, object] = {}
    exec("def made(): return 1", namespace)
    with caplog.at_level(logging.WARNING, logger="hotfunc"):
        assert hot(namespace["made"]) is namespace["made"]
    entry = hotfunc.registry[namespace["made"]]
    assert entry.error is not None and "no source file" in entry.error
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_disable_switch(tmp_path):
    """With HOTFUNC_DISABLE=1, @hot registers nothing and start() logs one line and does nothing."""
    script = tmp_path / "app.py"
    script.write_text(
        "import logging, sys, threading\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "import hotfunc\n"
        "@hotfunc.hot\n"
        "def f(): return 1\n"
        "hotfunc.start()\n"
        "assert len(hotfunc.registry) == 0\n"
        "assert not hotfunc.is_running() and threading.active_count() == 1\n"
        "assert 'watchdog' not in sys.modules\n"
    )
    env = {"HOTFUNC_DISABLE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == ["HOTFUNC_DISABLE is set; not watching any file"]


def test_import_is_light():
    """import hotfunc loads no heavy module (watchdog, ast, typing...); polling loads watchdog."""
    heavy = "{'watchdog', 'ast', 'logging', 'typing', 're', 'dataclasses', 'inspect', 'ctypes'}"
    code = (
        "import sys, hotfunc\n"
        f"assert not {heavy} & set(sys.modules), {heavy} & set(sys.modules)\n"
        "hotfunc.start(polling=True); assert 'watchdog' in sys.modules; hotfunc.stop()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_start_and_run_load_no_module_the_program_did_not_ask_for(tmp_path):
    """start() and `python -m hotfunc run` load the engine and logging, but nothing that
    drags in processes, temporary files or typing: an app's boot pays for no such import."""
    heavy = "{'subprocess', 'tempfile', 'shutil', 'typing', 'importlib.resources', 'bz2'}"
    check = f"import sys\nassert not {heavy} & set(sys.modules), {heavy} & set(sys.modules)\n"
    subprocess.run([sys.executable, "-c", "import hotfunc; hotfunc.start()\n" + check], check=True)
    script = tmp_path / "light.py"
    script.write_text(check)
    subprocess.run([sys.executable, "-m", "hotfunc", "run", str(script)], check=True)


def test_a_definition_made_hot_again_joins_its_entry(project, wait):
    """A module imported again after an edit (importlib.reload) makes its functions anew:
    each joins its definition's entry, and later saves reach the new function too."""
    source = (
        "from hotfunc import hot\n@hot\ndef f():\n    return {v!r}\n@hot\ndef g():\n    return 0\n"
    )
    mod = project.load(source.format(v=1))
    old_f = mod.f
    project.edit(mod, source.format(v=2))
    hotfunc.reload()
    assert hotfunc.registry[old_f].version == 1
    importlib.reload(mod)
    assert mod.f is not old_f and mod.f() == 2
    entry = hotfunc.registry[mod.f]
    assert entry is hotfunc.registry[old_f] and len(entry.functions) == 2
    project.edit(mod, source.format(v=3))
    hotfunc.reload()
    assert (mod.f(), old_f(), entry.version) == (3, 3, 2)
