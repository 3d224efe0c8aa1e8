"""What a save changes, driven through the real watcher on real files."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import traceback

import pytest

import hotfunc
from hotfunc.engine import _steps

pytestmark = pytest.mark.usefixtures("watching")


def test_body_of_every_kind_of_function(project, wait):
    """Plain, async, generator and async generator bodies are swapped in place."""
    source = """
        from hotfunc import hot
        @hot
        def plain(): return "{v}"
        @hot
        async def coro(): return "{v}"
        @hot
        def gen(): yield "{v}"
        @hot
        async def agen(): yield "{v}"
        """
    mod = project.load(source.format(v="old"))
    plain, coro, gen, agen = mod.plain, mod.coro, mod.gen, mod.agen
    project.edit(mod, source.format(v="new"))
    wait(lambda: all(e.version == 1 for e in hotfunc.registry))
    assert mod.plain() == "new"

    async def first(agen_func):
        async for item in agen_func():
            return item

    assert asyncio.run(mod.coro()) == "new"
    assert next(mod.gen()) == "new"
    assert asyncio.run(first(mod.agen)) == "new"
    assert (plain, coro, gen, agen) == (mod.plain, mod.coro, mod.gen, mod.agen)
    assert all(e.version == 1 for e in hotfunc.registry)


def test_methods_static_class_and_properties(project, wait):
    """Methods, static/class methods and property accessors change, in either stacking order."""
    source = """
        from hotfunc import hot
        class C:
            @hot
            def m(self): return "{v}"
            @hot
            @staticmethod
            def s1(): return "{v}"
            @staticmethod
            @hot
            def s2(): return "{v}"
            @hot
            @classmethod
            def c1(cls): return "{v}" + cls.__name__
            @classmethod
            @hot
            def c2(cls): return "{v}" + cls.__name__
            @hot
            @property
            def p(self): return "{v}" + self._p
            @p.setter
            @hot
            def p(self, value): self._p = "{v}" + value
        """
    mod = project.load(source.format(v="old"))
    obj = mod.C()
    project.edit(mod, source.format(v="new"))
    # One file's functions are swapped one after another: wait for the last.
    wait(lambda: all(e.version == 1 for e in hotfunc.registry))
    obj.p = "x"
    assert obj.p == "newnewx"
    assert obj.m() == "new"
    assert (obj.s1(), mod.C.s2(), mod.C.c1(), obj.c2()) == ("new", "new", "newC", "newC")


def test_whole_class(project, wait):
    """@hot on a class makes its methods and nested class hot."""
    source = """
        from hotfunc import hot
        @hot
        class Service:
            def get(self): return "{v}"
            class Inner:
                def deep(self): return "{v}"
        """
    mod = project.load(source.format(v="old"))
    project.edit(mod, source.format(v="new"))
    wait(lambda: mod.Service().get() == "new")
    wait(lambda: mod.Service.Inner().deep() == "new")


def test_every_closure_of_a_factory_changes(project, wait):
    """Closures already made by a factory change, and so do the ones it makes next."""
    source = """
        from hotfunc import hot
        def make(n):
            @hot
            def add(x):
                return x + n * {k}
            return add
        """
    mod = project.load(source.format(k=1))
    made = [mod.make(n) for n in range(5)]
    project.edit(mod, source.format(k=100))
    wait(lambda: made[0](1) == 1 + 0)  # n == 0 for the first one: check a later one too
    wait(lambda: [f(1) for f in made] == [1 + n * 100 for n in range(5)])
    assert mod.make(7)(1) == 701
    assert hotfunc.registry[made[0]].version == 1


def test_wraps_decorators_inside_and_outside(project, wait):
    """Functions under functools.wraps decorators change with @hot on either side."""
    source = """
        import functools
        from hotfunc import hot
        def loud(f):
            @functools.wraps(f)
            def wrapper(*a):
                return f(*a).upper()
            return wrapper
        @hot
        @loud
        def outer(): return "{v}"
        @loud
        @hot
        def inner(): return "{v}"
        """
    mod = project.load(source.format(v="old"))
    project.edit(mod, source.format(v="new"))
    wait(lambda: (mod.outer(), mod.inner()) == ("NEW", "NEW"))


def test_tornado_coroutine_over_hot(project, wait):
    """The seed's case: tornado's @gen.coroutine stacked over @hot."""
    pytest.importorskip("tornado")
    source = """
        from tornado import gen
        from hotfunc import hot
        @gen.coroutine
        @hot
        def handler(x):
            yield gen.sleep(0)
            return x * {k}
        """
    mod = project.load(source.format(k=1))
    from tornado.ioloop import IOLoop

    assert IOLoop.current().run_sync(lambda: mod.handler(3)) == 3
    project.edit(mod, source.format(k=10))
    wait(lambda: IOLoop.current().run_sync(lambda: mod.handler(3)) == 30)


def test_defaults_and_keyword_defaults(project, wait):
    """Defaults and keyword-only defaults are re-evaluated once per reload, class scope included."""
    source = """
        from hotfunc import hot
        BASE = 10
        @hot
        def f(a, b={b}, *, c={c}):
            return (a, b, c)
        class C:
            K = 5
            @hot
            def m(self, x={m}):
                return x
        """
    mod = project.load(source.format(b=1, c=2, m="K"))
    assert mod.f(0) == (0, 1, 2) and mod.C().m() == 5
    project.edit(mod, source.format(b="BASE + 1", c="'kw'", m="K * 2"))
    wait(lambda: mod.f(0) == (0, 11, "kw") and mod.C().m() == 10)
    assert mod.f.__defaults__ == (11,) and mod.f.__kwdefaults__ == {"c": "kw"}


def test_mutable_default_survives_a_body_edit(project, wait):
    """A default whose expression did not change keeps its object, and its state."""
    source = """
        from hotfunc import hot
        @hot
        def remember(x, seen=[]):
            seen.append(x)
            return {ret}
        """
    mod = project.load(source.format(ret="len(seen)"))
    mod.remember(1)
    mod.remember(2)
    project.edit(mod, source.format(ret="list(seen)"))
    wait(lambda: isinstance(mod.remember(3), list))
    assert mod.remember(4)[:2] == [1, 2]


@pytest.mark.parametrize("future", ["", "from __future__ import annotations\n"])
def test_docstring_and_annotations(project, wait, future):
    """__doc__ and __annotations__ follow the file, with or without postponed annotations."""
    source = future + (
        'from hotfunc import hot\n@hot\ndef f(x: {t}) -> {t}:\n    """{doc}"""\n    return x\n'
    )
    mod = project.load(source.format(t="int", doc="old"))
    project.edit(mod, source.format(t="str", doc="new"))
    wait(lambda: mod.f.__doc__ == "new")
    expected = "str" if future else str
    assert mod.f.__annotations__ == {"x": expected, "return": expected}


def test_a_method_annotated_with_a_module_of_its_own_name(project, wait):
    """`def re(self) -> re.Pattern` in a class: its annotation reads the module, as the
    class body did, not the method the name holds once the body ran (pyparsing's Regex)."""
    source = (
        "import re\nfrom hotfunc import hot\n@hot\nclass Regex:\n"
        "    def re(self, flags: int = {flags}) -> re.Pattern:\n"
        "        return re.compile('a', flags)\n"
    )
    mod = project.load(source.format(flags=0))
    project.edit(mod, source.format(flags="re.IGNORECASE"))
    wait(lambda: mod.Regex().re().flags & mod.re.IGNORECASE)
    assert mod.Regex.re.__annotations__["return"] is mod.re.Pattern
    assert not hotfunc.registry.failures()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 needs Python 3.12")
def test_type_parameters(project, wait):
    """PEP 695 generic functions reload, with fresh type parameters."""
    source = """
        from hotfunc import hot
        @hot
        def first[{params}](xs: list[T]) -> T:
            return xs[{i}]
        """
    mod = project.load(source.format(params="T", i=0))
    project.edit(mod, source.format(params="T, U", i=-1))
    wait(lambda: mod.first([1, 2]) == 2)
    assert [p.__name__ for p in mod.first.__type_params__] == ["T", "U"]
    assert mod.first.__annotations__["return"] is mod.first.__type_params__[0]


def test_line_numbers_and_text_in_tracebacks(project, wait):
    """After an edit above them, unchanged functions report their new lines and text."""
    source = (
        "{pad}from hotfunc import hot\n"
        "@hot\n"
        "def edited():\n"
        "    return {v}\n"
        "@hot\n"
        "def below():\n"
        '    raise KeyError("below")  # marker\n'
    )
    mod = project.load(source.format(pad="", v=1))
    project.edit(mod, source.format(pad="# one\n# two\n# three\n", v=2))
    wait(lambda: mod.edited() == 2 and hotfunc.registry[mod.below].lineno == 8)
    assert hotfunc.registry[mod.below].version == 0
    with pytest.raises(KeyError) as info:
        mod.below()
    frame = traceback.extract_tb(info.tb)[-1]
    assert frame.name == "below"
    assert frame.lineno == 10
    assert frame.line == 'raise KeyError("below")  # marker'
    assert hotfunc.registry[mod.below].lineno == 8


def test_functions_in_the_main_script(tmp_path):
    """Functions defined in the __main__ script are hot too."""
    import subprocess
    import textwrap

    script = tmp_path / "main_app.py"
    script.write_text(
        textwrap.dedent(
            """
            import pathlib, sys
            import hotfunc
            from hotfunc.testing import wait_for
            @hotfunc.hot
            def answer():
                return "old"
            hotfunc.start()
            me = pathlib.Path(__file__)
            me.write_text(me.read_text().replace('return "old"', 'return "new"'))
            wait_for(lambda: answer() == "new")
            print(hotfunc.registry["__main__.answer"].version)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_first_edit_of_a_large_file_parses_only_around_it(project, wait):
    """The first edit of a file never edited before parses the statements near the
    edit, not the file: the rest stays unparsed, and functions below it move."""
    count = 2000
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {{v{i}}}\n" for i in range(count)
    )
    values = {f"v{i}": i for i in range(count)}
    mod = project.load(source.format(**values))
    last = mod.f1999
    line = last.__code__.co_firstlineno
    values["v1000"] = "'new'\n    # one more line"
    project.edit(mod, source.format(**values))
    hot_file = hotfunc.registry[mod.f1000].source

    def parsed_around_the_edit() -> bool:
        baseline = hot_file.baseline
        return (baseline is not None and not baseline.blocks[0].opaque) or any(
            not b.opaque for b in baseline.blocks
        )

    wait(lambda: mod.f1000() == "new" and parsed_around_the_edit())
    blocks = hot_file.baseline.blocks
    assert sum(not b.opaque for b in blocks) < 10 and sum(b.opaque for b in blocks) == 2
    assert last.__code__.co_firstlineno == line + 1  # moved, not recompiled
    assert hotfunc.registry[last].version == 0 and last() == 1999
    # A later edit far from the first one parses only around itself too.
    values["v10"] = "'ten'"
    project.edit(mod, source.format(**values))
    wait(lambda: mod.f10() == "ten")
    assert last.__code__.co_firstlineno == line + 1


def test_an_edit_builds_entries_only_for_the_functions_it_reached(project, wait):
    """A hot function gets its registry entry when something asks for it: an edit of
    the lines it stands on, a look-up, a listing.  An edit elsewhere only moves it,
    and a look-up later finds it at its new line, unchanged."""
    count = 500
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {{v{i}}}\n" for i in range(count)
    )
    values = {f"v{i}": i for i in range(count)}
    mod = project.load(source.format(**values))
    (hot_file,) = hotfunc.registry.sources_at(mod.__file__)
    assert hot_file.entries == [] and len(hot_file.deferred) == count
    last = mod.f499
    line = last.__code__.co_firstlineno
    values["v250"] = "'new'\n    # one more line"
    project.edit(mod, source.format(**values))
    wait(lambda: mod.f250() == "new" and last.__code__.co_firstlineno == line + 1)
    with hot_file.lock:  # the reload holds it until it is done
        built = {e.qualname for e in hot_file.entries}
    assert "f250" in built and len(built) < 10
    entry = hotfunc.registry[last]  # builds the rest of the file's entries
    assert (entry.lineno, entry.version, last()) == (line + 1, 0, 499)
    assert hot_file.deferred == [] and len(hotfunc.registry) == count
    assert hotfunc.registry[mod.f250].version == 1


def test_the_text_read_again_builds_nothing(project):
    """A forked child reads every file again, as after an interrupted reload: when the
    text is what the live code came from, no function gets an entry or a new code."""
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {i}\n" for i in range(300)
    )
    mod = project.load(source)
    codes = [getattr(mod, f"f{i}").__code__ for i in range(300)]
    (hot_file,) = hotfunc.registry.sources_at(mod.__file__)
    for _ in range(2):
        hot_file.digest = None  # what the fork handler does
        assert hotfunc.reload(mod.__file__) == []
        assert hot_file.entries == [] and len(hot_file.deferred) == 300
    assert [getattr(mod, f"f{i}").__code__ for i in range(300)] == codes


def test_functions_below_an_edit_move_with_the_code_nested_in_them(project, wait):
    """Lines added above functions that have no entry yet move them, and the lambdas
    nested in the ones that hold any, as an import of the new text would number them;
    a function with none moves as plainly."""
    source = "from hotfunc import hot\n" + "".join(
        f"\n@hot\ndef f{i}():\n    return lambda: {i}\n"
        if i % 3 == 0
        else f"\n@hot\ndef f{i}():\n    return {i}\n"
        for i in range(12)
    )
    mod = project.load(source)
    funcs = [getattr(mod, f"f{i}") for i in range(12)]
    lines = [f.__code__.co_firstlineno for f in funcs]
    project.edit(mod, "# one\n# two\n" + source)
    wait(lambda: funcs[-1].__code__.co_firstlineno == lines[-1] + 2)
    assert [f.__code__.co_firstlineno for f in funcs] == [line + 2 for line in lines]
    for i in range(0, 12, 3):
        assert funcs[i]().__code__.co_firstlineno == lines[i] + 2 + 2  # its decorator, +2


def test_same_text_again_moves_nothing(project, wait):
    """A file deleted and written again with the text it had leaves every function,
    parsed or not, at its lines."""
    source = "from hotfunc import hot\n" + "".join(
        f"\n@hot\ndef f{i}():\n    return {i}\n" for i in range(30)
    )
    mod = project.load(source)
    project.edit(mod, source.replace("return 3\n", "return 33\n"))
    wait(lambda: mod.f3() == 33)
    lines = [getattr(mod, f"f{i}").__code__.co_firstlineno for i in range(30)]
    os.remove(mod.__file__)
    wait(lambda: hotfunc.registry[mod.f3].error is not None)
    project.edit(mod, source.replace("return 3\n", "return 33\n"))
    wait(lambda: hotfunc.registry[mod.f3].error is None)
    assert [getattr(mod, f"f{i}").__code__.co_firstlineno for i in range(30)] == lines


def test_moving_many_functions_leaves_the_collector_as_the_application_had_it(
    project, wait, monkeypatch
):
    """While a save moves many functions, the cyclic collector waits; afterwards it is
    on or off as the application left it."""
    monkeypatch.setattr(_steps, "_MANY", 10)  # 200 functions count as many
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {i}\n" for i in range(200)
    )
    mod = project.load(source)
    last = mod.f199
    line = last.__code__.co_firstlineno
    for pad, enabled in ((1, True), (2, False)):
        if not enabled:
            gc.disable()
        try:
            project.edit(mod, "#\n" * pad + source)
            wait(lambda pad=pad: last.__code__.co_firstlineno == line + pad)
            (hot_file,) = hotfunc.registry.sources_at(mod.__file__)
            with hot_file.lock:  # held by the reload until it is done
                assert gc.isenabled() is enabled
        finally:
            gc.enable()
