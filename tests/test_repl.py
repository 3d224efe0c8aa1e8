"""The registry at a REPL: table, history, diff, rollback, pretty printers, IPython."""

from __future__ import annotations

import io

import pytest

import hotfunc

SOURCE = "from hotfunc import hot\n@hot\ndef price(n):\n    return n * {k}\n"


def _versions(project, *ks):
    mod = project.load(SOURCE.format(k=ks[0]))
    for k in ks[1:]:
        project.edit(mod, SOURCE.format(k=k))
        hotfunc.reload()
    return mod


def test_table_columns_and_status(project):
    """The table shows name, file:line, version, last reload and status; status() matches."""
    mod = _versions(project, 1, 2)
    project.edit(mod, "def price(:\n")
    hotfunc.reload()
    lines = repr(hotfunc.registry).splitlines()
    assert lines[0] == "hotfunc registry: 1 function in 1 file, watcher stopped"
    assert lines[1].split() == ["name", "file:line", "version", "reloaded", "status"]
    row = lines[2]
    assert f"{mod.__name__}.price" in row and "v1" in row and "s ago" in row
    assert "error:" in row and ":1: SyntaxError" in row
    assert hotfunc.status() == repr(hotfunc.registry)


def test_history_keeps_each_version(project):
    """Each swap keeps the source text and time; the imported version comes first."""
    mod = _versions(project, 1, 2, 3)
    history = hotfunc.registry[mod.price].history
    assert [v.version for v in history] == [0, 1, 2]
    assert history[0].at is None and history[2].at is not None
    assert "return n * 1" in history[0].source and "return n * 3" in history[2].source
    assert history[2].source.startswith("@hot\ndef price")


def test_history_is_bounded(project):
    """Only the last 20 versions are kept."""
    mod = _versions(project, *range(1, 30))
    history = hotfunc.registry[mod.price].history
    assert len(history) == 20 and history[-1].version == 28


def test_diff_of_the_last_two_versions(project):
    """diff() is a unified diff between the last two versions."""
    mod = _versions(project, 1, 2)
    text = hotfunc.diff(mod.price)
    assert f"--- {mod.__name__}.price v0" in text and f"+++ {mod.__name__}.price v1" in text
    assert "-    return n * 1\n" in text and "+    return n * 2\n" in text
    assert hotfunc.diff(_versions(project, 5).price) == ""


def test_rollback_and_the_next_save(project, wait):
    """rollback() swaps the previous version back in; the next save moves forward again."""
    mod = _versions(project, 1, 2, 3)
    entry = hotfunc.rollback(mod.price)
    assert mod.price(1) == 2 and entry.version == 3
    assert entry.history[-1].restored == 1
    hotfunc.rollback(mod.price)  # one step further back
    assert mod.price(1) == 1
    with pytest.raises(ValueError, match="no earlier version"):
        for _ in range(5):
            hotfunc.rollback(mod.price)
    hotfunc.start()
    project.edit(mod, SOURCE.format(k=3))  # the same text the file held before
    wait(lambda: mod.price(1) == 3)


def test_rollback_needs_history(project):
    """A function never swapped cannot be rolled back; the error says why."""
    mod = project.load(SOURCE.format(k=1))
    with pytest.raises(ValueError, match="no earlier version is kept"):
        hotfunc.rollback(mod.price)


def test_ipython_pretty_printers(project):
    """IPython's pretty printer shows the table, and an entry with its history."""
    IPython = pytest.importorskip("IPython")
    from IPython.lib.pretty import pretty

    mod = _versions(project, 1, 2)
    assert pretty(hotfunc.registry) == repr(hotfunc.registry)
    text = pretty(hotfunc.registry[mod.price])
    assert "<version 1" in text and "<version 0 (imported)>" in text
    assert IPython


def test_rich_table(project):
    """With rich installed, the registry renders as a rich table."""
    rich_console = pytest.importorskip("rich.console")
    _versions(project, 1, 2)
    out = io.StringIO()
    rich_console.Console(file=out, width=200, color_system=None).print(hotfunc.registry)
    text = out.getvalue()
    assert "hotfunc registry: 1 function" in text and "v1" in text and "price" in text


def test_ipython_extension(project):
    """%load_ext hotfunc starts watching; %hot shows the table, an entry, or makes modules hot."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        mod = _versions(project, 1, 2)
        plain = project.load("def plain_helper():\n    return 1\nimported = len\n")
        shell.user_ns.update(shop=mod, plain=plain)
        shell.run_line_magic("load_ext", "hotfunc")
        assert hotfunc.is_running()
        assert str(shell.run_line_magic("hot", "")).startswith("hotfunc registry:")
        one = shell.run_line_magic("hot", "shop.price")
        assert repr(one).startswith(f"{mod.__name__}.price  v1") and "<version 0" in repr(one)
        made = shell.run_line_magic("hot", "plain")
        assert repr(made).startswith(f"1 hot functions in {plain.__name__}")
        assert hotfunc.registry[plain.plain_helper].version == 0
        shell.run_line_magic("unload_ext", "hotfunc")
        assert not hotfunc.is_running()
    finally:
        InteractiveShell.clear_instance()
