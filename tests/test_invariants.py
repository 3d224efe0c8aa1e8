"""What must never happen: module code re-run, a wrapper, new globals, a broken super()."""

from __future__ import annotations

import threading

import pytest

import hotfunc

pytestmark = pytest.mark.usefixtures("watching")


def test_module_code_never_runs_again(project, wait, tmp_path):
    """Top-level statements are not executed by a reload."""
    log = tmp_path / "imports.log"
    source = f"""
        from hotfunc import hot
        with open({str(log)!r}, "a") as fh:
            fh.write("imported\\n")
        @hot
        def f(): return {{v}}
        """
    mod = project.load(source.format(v=1))
    project.edit(mod, source.format(v=2))
    wait(lambda: mod.f() == 2)
    assert log.read_text() == "imported\n"


def test_no_wrapper_and_no_new_globals(project, wait):
    """The module's globals keep the same names and the same function object."""
    source = """
        from hotfunc import hot
        @hot
        def f(x): return x + {v}
        """
    mod = project.load(source.format(v=1))
    before = dict(vars(mod))
    project.edit(mod, source.format(v=2))
    wait(lambda: mod.f(0) == 2)
    assert set(vars(mod)) == set(before)
    assert mod.f is before["f"]
    assert type(mod.f).__name__ == "function" and not hasattr(mod.f, "__wrapped__")


def test_zero_argument_super_keeps_working(project, wait):
    """A method that already used super() still does after its body changes."""
    source = """
        from hotfunc import hot
        class Base:
            def hello(self): return "base"
        @hot
        class Child(Base):
            def hello(self):
                return "{v}+" + super().hello()
        """
    mod = project.load(source.format(v="old"))
    project.edit(mod, source.format(v="new"))
    wait(lambda: mod.Child().hello() == "new+base")


def test_watcher_thread_is_one_and_idempotent(project):
    """start() twice keeps one reloader thread; stop() joins it."""
    project.load("from hotfunc import hot\n@hot\ndef f(): return 1\n")
    hotfunc.start()
    names = [t.name for t in threading.enumerate()]
    assert names.count("hotfunc-watcher") == 1
    hotfunc.stop()
    assert "hotfunc-watcher" not in [t.name for t in threading.enumerate()]
    assert not hotfunc.is_running()
