"""Every way editors save a file is noticed, and nothing half-written costs a function its code."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import hotfunc
from hotfunc import _state

pytestmark = pytest.mark.usefixtures("watching")

SOURCE = "from hotfunc import hot\n@hot\ndef f():\n    return {v!r}\n"


def test_in_place_write(project, wait):
    """A plain open-truncate-write-close save."""
    mod = project.load(SOURCE.format(v=1))
    with open(mod.__file__, "w") as fh:
        fh.write(SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)


def test_truncate_then_write_after_a_pause(project, wait):
    """An empty file in the middle of a save keeps the code and is not left marked once written."""
    mod = project.load(SOURCE.format(v=1))
    entry = hotfunc.registry[mod.f]
    with open(mod.__file__, "w"):
        pass  # closed while empty: the watcher reads the half-done save
    wait(lambda: entry.error is not None and "empty" in entry.error)
    assert mod.f() == 1
    with open(mod.__file__, "w") as fh:  # same handle, pause between truncate and write
        fh.flush()
        time.sleep(0.05)
        fh.write(SOURCE.format(v=2))
    wait(lambda: mod.f() == 2 and entry.error is None)


@pytest.mark.parametrize("how", ["os.replace", "sed -i"])
def test_atomic_save(project, wait, how):
    """A temporary file renamed over the original (most editors, sed -i)."""
    mod = project.load(SOURCE.format(v=1))
    if how == "os.replace":
        project.edit(mod, SOURCE.format(v=2), atomic=True)
    else:
        subprocess.run(["sed", "-i", "s/return 1/return 2/", mod.__file__], check=True)
    wait(lambda: mod.f() == 2)
    project.edit(mod, SOURCE.format(v=3), atomic=True)  # and again: the watch survived
    wait(lambda: mod.f() == 3)


def test_vim_backupcopy_no(project, wait):
    """vim's default on Linux: rename to file~, write a new file, delete the backup."""
    mod = project.load(SOURCE.format(v=1))
    path = mod.__file__
    os.rename(path, path + "~")
    with open(path, "w") as fh:
        fh.write(SOURCE.format(v=2))
    os.remove(path + "~")
    wait(lambda: mod.f() == 2 and hotfunc.registry[mod.f].error is None)


def test_jetbrains_safe_write(project, wait):
    """JetBrains: write ___jb_tmp___, move the original to ___jb_old___, move tmp in, delete old."""
    mod = project.load(SOURCE.format(v=1))
    path = mod.__file__
    with open(path + "___jb_tmp___", "w") as fh:
        fh.write(SOURCE.format(v=2))
    os.rename(path, path + "___jb_old___")
    os.rename(path + "___jb_tmp___", path)
    os.remove(path + "___jb_old___")
    wait(lambda: mod.f() == 2)
    wait(lambda: hotfunc.registry[mod.f].error is None)


def test_delete_then_recreate(project, wait):
    """A file deleted and written anew is picked up."""
    mod = project.load(SOURCE.format(v=1))
    os.remove(mod.__file__)
    with open(mod.__file__, "w") as fh:
        fh.write(SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)
    wait(lambda: hotfunc.registry[mod.f].error is None)


def test_touch_compiles_nothing(project, wait, compiled):
    """touch, or a save of the same bytes, compiles and swaps nothing."""
    first = project.load(SOURCE.format(v=1), name="a_touched")
    second = project.load(SOURCE.format(v=1), name="b_marker")
    subprocess.run(["touch", first.__file__], check=True)
    with open(first.__file__, "a"):
        pass
    # The reloader takes paths in order, so once b_marker is reloaded the
    # touches of a_touched have been handled.
    project.edit(second, SOURCE.format(v=2))
    wait(lambda: second.f() == 2)
    # At most the text as imported, compiled ahead of a first edit; never a reload.
    touched = [text for name, text in compiled if name == first.__file__]
    assert touched in ([], [SOURCE.format(v=1)])
    assert hotfunc.registry[first.f].version == 0


def test_burst_of_saves(project, wait, compiled):
    """20 quick saves: the last one wins and no content is compiled twice."""
    mod = project.load(SOURCE.format(v=0))
    for v in range(1, 21):
        project.edit(mod, SOURCE.format(v=v), atomic=v % 2 == 0)
    wait(lambda: mod.f() == 20)
    texts = [text for _, text in compiled]
    assert len(texts) == len(set(texts))
    assert hotfunc.registry[mod.f].version <= 20


def test_temp_and_backup_files_are_never_compiled(project, wait, compiled):
    """Editor droppings next to a hot file are ignored."""
    mod = project.load(SOURCE.format(v=1))
    base = mod.__file__
    junk = [base + "~", base + ".swp", base + "___jb_tmp___", base + ".tmp", "4913"]
    for name in junk:
        with open(os.path.join(os.path.dirname(base), name), "w") as fh:
            fh.write("this is not python (")
    project.edit(mod, SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)
    assert {name for name, _ in compiled} == {base}


def test_one_watch_per_directory(project, wait):
    """Ten hot files in one folder take one watch."""
    mods = [project.load(SOURCE.format(v=1)) for _ in range(10)]
    watcher = _state.watcher
    assert watcher is not None
    assert watcher.watched_folders == {os.path.dirname(mods[0].__file__)}
    project.edit(mods[-1], SOURCE.format(v=2))
    wait(lambda: mods[-1].f() == 2)
