"""Bad input: the function keeps its last good code, and the registry and log say why."""

from __future__ import annotations

import logging
import os

import pytest

import hotfunc

pytestmark = pytest.mark.usefixtures("watching")

GOOD = """
from hotfunc import hot
@hot
def f():
    return {v!r}
"""


@pytest.fixture
def warnings_(caplog):
    caplog.set_level(logging.WARNING, logger="hotfunc")
    return caplog


def _entry(mod):
    return hotfunc.registry[mod.f]


def test_syntax_error_then_fix(project, wait, warnings_):
    """A syntax error keeps the old code, names file:line, and the fix is picked up."""
    mod = project.load(GOOD.format(v=1))
    project.edit(mod, "from hotfunc import hot\n@hot\ndef f(:\n    return 2\n")
    wait(lambda: _entry(mod).error is not None)
    assert mod.f() == 1
    assert f"{mod.__file__}:3: SyntaxError" in _entry(mod).error
    assert "\n" not in _entry(mod).error
    assert any(f"{mod.__file__}:3" in r.getMessage() for r in warnings_.records)
    project.edit(mod, GOOD.format(v=2))
    wait(lambda: mod.f() == 2 and _entry(mod).error is None)
    assert _entry(mod).version == 1


def test_removed_or_renamed(project, wait):
    """A function removed or renamed in the file keeps its code and is marked."""
    mod = project.load(GOOD.format(v=1))
    project.edit(mod, "from hotfunc import hot\ndef g():\n    return 2\n")
    wait(lambda: _entry(mod).error is not None)
    assert "'f' is no longer defined" in _entry(mod).error
    assert _entry(mod).error.startswith(f"{mod.__file__}:3:")
    assert mod.f() == 1
    project.edit(mod, GOOD.format(v=3))
    wait(lambda: mod.f() == 3 and _entry(mod).error is None)


def test_file_deleted_and_back(project, wait):
    """A deleted file keeps the code; when the file reappears it is read again."""
    mod = project.load(GOOD.format(v=1))
    os.remove(mod.__file__)
    wait(lambda: _entry(mod).error is not None)
    assert "file deleted" in _entry(mod).error
    assert mod.f() == 1
    project.edit(mod, GOOD.format(v=2))
    wait(lambda: mod.f() == 2 and _entry(mod).error is None)


def test_closure_variables_changed(project, wait):
    """A closure whose free variables changed is refused with the names and the way out."""
    source = """
        from hotfunc import hot
        @hot
        def make(n, step):
            @hot
            def inner():
                return {body}
            return inner
        """
    mod = project.load(source.format(body="n"))
    inner = mod.make(1, 10)
    project.edit(mod, source.format(body="n + step"))
    wait(lambda: hotfunc.registry[inner].error is not None)
    error = hotfunc.registry[inner].error
    assert "closure variables changed ('n' -> 'n', 'step')" in error
    assert "calling 'make' again" in error
    assert inner() == 1
    fresh = mod.make(1, 10)  # the hot factory makes closures with the new code
    assert fresh() == 11
    project.edit(mod, source.format(body="n + step * 2"))
    wait(lambda: fresh() == 21)
    assert inner() == 1


def test_method_gains_super(project, wait):
    """A method that starts calling super() works when its class is reachable by name."""
    source = """
        from hotfunc import hot
        class Base:
            def hello(self): return "base"
            @classmethod
            def make(cls): return "made"
        class Outer:
            class Child(Base):
                @hot
                def hello(self):
                    return {body}
                @hot
                @classmethod
                def make(cls):
                    return {make}
        """
    mod = project.load(source.format(body="'child'", make="'child'"))
    project.edit(
        mod,
        source.format(
            body="'child+' + super().hello()", make="super().make() + __class__.__name__"
        ),
    )
    wait(lambda: mod.Outer.Child().hello() == "child+base")
    wait(lambda: mod.Outer.Child.make() == "madeChild")
    wait(lambda: hotfunc.registry[mod.Outer.Child.hello].error is None)


def test_local_class_method_gains_super(project, wait):
    """A method of a class made inside a function cannot gain super(); the error says so."""
    source = """
        from hotfunc import hot
        class Base:
            def hello(self): return "base"
        def build():
            class Child(Base):
                @hot
                def hello(self):
                    return {body}
            return Child
        Child = build()
        """
    mod = project.load(source.format(body="'child'"))
    project.edit(mod, source.format(body="'child+' + super().hello()"))
    entry = hotfunc.registry[mod.Child.hello]
    wait(lambda: entry.error is not None)
    assert "super(Child, self)" in entry.error and "zero-argument super()" in entry.error
    assert mod.Child().hello() == "child"


def test_default_expression_raises(project, wait):
    """A default expression that raises keeps the old code and names the line."""
    source = """
        from hotfunc import hot
        @hot
        def f(x={default}):
            return x
        """
    mod = project.load(source.format(default="1"))
    project.edit(mod, source.format(default="1 / 0"))
    wait(lambda: _entry(mod).error is not None)
    assert "ZeroDivisionError" in _entry(mod).error
    assert _entry(mod).error.startswith(f"{mod.__file__}:4:")
    assert mod.f() == 1
    project.edit(mod, source.format(default="2"))
    wait(lambda: mod.f() == 2)


def test_file_that_cannot_be_decoded(project, wait):
    """Bytes that do not decode keep the old code and name the line."""
    mod = project.load(GOOD.format(v=1))
    with open(mod.__file__, "wb") as fh:
        fh.write(b"from hotfunc import hot\n@hot\ndef f():\n    return '\xff\xfe'\n")
    wait(lambda: _entry(mod).error is not None)
    assert "cannot decode" in _entry(mod).error
    assert _entry(mod).error.startswith(f"{mod.__file__}:4:")
    assert mod.f() == 1


def test_unreadable_file(project):
    """A path that cannot be read as a file keeps the old code and says why."""
    mod = project.load(GOOD.format(v=1))
    os.remove(mod.__file__)
    os.mkdir(mod.__file__)
    events = hotfunc.reload(mod.f)
    assert [e.ok for e in events] == [False]
    assert "cannot read the file" in _entry(mod).error
    assert mod.f() == 1


def test_watcher_survives_everything(project, wait):
    """After every kind of failure the watcher still reloads the next good save."""
    mod = project.load(GOOD.format(v=0))
    for bad in ("def (", "", "x = 1\n", GOOD.format(v=1).replace("return", "return 1 +* ")):
        project.edit(mod, bad)
        wait(lambda: _entry(mod).error is not None)
        project.edit(mod, GOOD.format(v=1))
        wait(lambda: _entry(mod).error is None)
    project.edit(mod, GOOD.format(v="final"))
    wait(lambda: mod.f() == "final")
    assert hotfunc.is_running()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"from hotfunc import hot\n@hot\ndef f():\n    return 1\x00\n",
            ":4: the file holds a null byte",
        ),
        (b"# -*- coding: no-such-codec -*-\nfrom hotfunc import hot\n", "no-such-codec"),
    ],
    ids=["null byte", "unknown coding cookie"],
)
def test_bytes_python_refuses(project, wait, data, expected):
    """A null byte or an unknown encoding keeps the old code and says which."""
    mod = project.load(GOOD.format(v=1))
    with open(mod.__file__, "wb") as fh:
        fh.write(data)
    wait(lambda: _entry(mod).error is not None)
    assert expected in _entry(mod).error and _entry(mod).error.startswith(f"{mod.__file__}:")
    assert mod.f() == 1
