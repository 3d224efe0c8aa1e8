"""The recompile and swap engine, driven synchronously with hotfunc.reload()."""

from __future__ import annotations

import logging
import textwrap
import threading

import pytest

import hotfunc

MANY = "from hotfunc import hot\n" + "".join(
    f"@hot\ndef f{i}():\n    return {{v{i}}}\n" for i in range(30)
)


def _many(**changes: int) -> str:
    values = {f"v{i}": i for i in range(30)}
    values.update(changes)
    return MANY.format(**values)


def test_one_compile_per_change_and_only_the_changed_file(project, compiled):
    """Editing one file compiles its new text once; other files are not compiled."""
    mod = project.load(_many())
    other = project.load(_many())
    project.edit(mod, _many(v3=300))
    events = hotfunc.reload()
    # The text as imported is never compiled: the edit is compared with it line
    # by line, and only the statements around it are parsed.
    assert compiled == [(mod.__file__, _many(v3=300))]
    assert [e.entry.qualname for e in events] == ["f3"]
    assert mod.f3() == 300
    assert {
        e.version for e in hotfunc.registry if e.qualname != "f3" or e.file == other.__file__
    } == {0}


def test_same_content_swaps_nothing(project, compiled):
    """A save that leaves the content unchanged does nothing: no compile, no version."""
    mod = project.load(_many())
    project.edit(mod, _many())
    assert hotfunc.reload() == []
    assert compiled == []
    project.edit(mod, _many(v1=100))
    assert len(hotfunc.reload()) == 1
    project.edit(mod, _many(v1=100))
    assert hotfunc.reload() == []
    assert [text for _, text in compiled] == [_many(v1=100)]
    assert hotfunc.registry[mod.f1].version == 1


def test_reload_targets(project):
    """reload() takes a path, a function, or nothing."""
    source = "from hotfunc import hot\n@hot\ndef f(): return {v}\n"
    a = project.load(source.format(v=1))
    b = project.load(source.format(v=1))
    project.edit(a, source.format(v=2))
    project.edit(b, source.format(v=2))
    assert [e.entry.name for e in hotfunc.reload(a.__file__)] == [f"{a.__name__}.f"]
    assert (a.f(), b.f()) == (2, 1)
    assert [e.entry.name for e in hotfunc.reload(b.f)] == [f"{b.__name__}.f"]
    assert b.f() == 2
    with pytest.raises(KeyError, match="not registered"):
        hotfunc.reload(len)


def test_events_and_callbacks(project):
    """on_reload callbacks get one event per swap or failure; one that raises is logged."""
    seen = []

    @hotfunc.on_reload
    def record(event):
        seen.append((event.entry.qualname, event.ok, event.version, event.error))

    hotfunc.on_reload(lambda event: 1 / 0)
    source = "from hotfunc import hot\n@hot\ndef f(): return {v}\n"
    mod = project.load(source.format(v=1))
    project.edit(mod, source.format(v=2))
    events = hotfunc.reload()
    assert events[0].duration > 0
    project.edit(mod, "def f(:\n")
    hotfunc.reload()
    assert seen[0] == ("f", True, 1, None)
    assert seen[1][:3] == ("f", False, 1)
    assert ":1: SyntaxError" in seen[1][3]


def test_logs_one_info_line_per_save(project, caplog):
    """A save logs one INFO line naming the file and each swapped function's version."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    mod = project.load(_many())
    project.edit(mod, _many(v4=4000, v5=5000))
    hotfunc.reload()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 1
    assert lines[0].startswith(f"{mod.__file__}: swapped f4 v1, f5 v1 (")
    assert lines[0].endswith(" ms)")


def test_running_call_finishes_on_old_code(project):
    """A call already running finishes on the old code while new calls run the new code."""
    source = textwrap.dedent(
        """
        from hotfunc import hot
        @hot
        def slow(started, release):
            started.set()
            release.wait(10)
            return {v!r}
        """
    )
    mod = project.load(source.format(v="old"))
    started, release = threading.Event(), threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(mod.slow(started, release)))
    worker.start()
    assert started.wait(10)
    project.edit(mod, source.format(v="new"))
    hotfunc.reload()
    done = threading.Event()
    done.set()
    assert mod.slow(threading.Event(), done) == "new"
    release.set()
    worker.join(10)
    assert results == ["old"]


def test_moved_function_is_not_a_new_version(project):
    """A function that only moved gets correct lines but keeps its version."""
    mod = project.load(_many())
    project.edit(mod, "\n\n" + _many())
    assert hotfunc.reload() == []
    entry = hotfunc.registry[mod.f0]
    assert (entry.version, entry.lineno, mod.f0.__code__.co_firstlineno) == (0, 4, 4)


def test_registry_api(project):
    """len, iteration, lookup by function and by name, and the table repr."""
    mod = project.load(_many())
    assert len(hotfunc.registry) == 30
    assert hotfunc.registry[f"{mod.__name__}.f7"] is hotfunc.registry[mod.f7]
    assert mod.f7 in hotfunc.registry and len not in hotfunc.registry
    table = repr(hotfunc.registry)
    assert table.splitlines()[0] == "hotfunc registry: 30 functions in 1 file, watcher stopped"
    assert "name" in table.splitlines()[1] and f"{mod.__name__}.f29" in table
    assert hotfunc.status() == table
    with pytest.raises(KeyError, match="no hot function is named 'nope'"):
        hotfunc.registry["nope"]
