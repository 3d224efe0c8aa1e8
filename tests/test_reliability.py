"""The watcher never dies, never blocks and never misses: hostile files, torn saves, forks, folders.

Everything runs against real files and the real watcher; what must not
happen is checked after a later change that must happen was seen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import hotfunc
from hotfunc import _state
from hotfunc.core import _files
from hotfunc.testing import wait_for

pytestmark = pytest.mark.usefixtures("watching")

SOURCE = "from hotfunc import hot\n@hot\ndef f():\n    return {v!r}\n"
STRESS_SECONDS = float(os.environ.get("HOTFUNC_STRESS_SECONDS", "2"))


def _timed(fn, limit: float = 2.0) -> float:
    """Run ``fn`` on a thread; fail if it is still running after ``limit`` seconds."""
    done = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=lambda: (fn(), done.set()), daemon=True)
    thread.start()
    assert done.wait(limit), f"{fn!r} still blocked after {limit} s"
    return time.monotonic() - started


def test_deeply_nested_text_never_kills_the_watcher(project, wait):
    """A file nested deeper than the ast module takes (on Python 3.11) is that file's
    error; its edit applies where the ast module copes; other files reload either way."""
    chain = " + ".join(["1"] * 1000)
    deep = project.load(f"from hotfunc import hot\nTOTAL = {chain}\n@hot\ndef f():\n    return 1\n")
    other = project.load(SOURCE.format(v="a"))
    project.edit(deep, f"from hotfunc import hot\nTOTAL = {chain}\n@hot\ndef f():\n    return 2\n")
    project.edit(other, SOURCE.format(v="b"))
    wait(lambda: other.f() == "b")
    wait(lambda: deep.f() == 2 or hotfunc.registry[deep.f].error is not None)
    if deep.f() == 1:
        assert "RecursionError" in hotfunc.registry[deep.f].error
        assert all(not e.ok for e in hotfunc.reload(deep.f))  # reported, never raised
    assert hotfunc.is_running()
    project.edit(other, SOURCE.format(v="c"))
    wait(lambda: other.f() == "c")


def test_a_dead_watcher_thread_is_reported_and_replaced(project, wait):
    """is_running() tells a dead thread; start() starts another, and saves land again."""
    mod = project.load(SOURCE.format(v=1))
    backend = _state.watcher._backend
    backend._stopping.set()  # the thread ends as if something killed it
    backend.nudge()
    wait(lambda: not backend.thread.is_alive())
    assert not hotfunc.is_running()
    assert "watcher stopped" in repr(hotfunc.registry)
    hotfunc.start()
    assert hotfunc.is_running()
    project.edit(mod, SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)


def test_a_fifo_in_place_of_a_file_blocks_nothing(project, wait, tmp_path):
    """A FIFO renamed onto a hot file is not read: calls, the registry, imports and stop() go on."""
    mod = project.load(SOURCE.format(v=1))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.replace(fifo, mod.__file__)
    wait(lambda: "not a regular file" in (hotfunc.registry[mod.f].error or ""))
    _timed(lambda: repr(hotfunc.registry))
    other = project.load(SOURCE.format(v="x"))
    assert other.f() == "x" and mod.f() == 1
    _timed(hotfunc.stop)


def test_an_endless_file_is_refused(project, wait):
    """A hot file that becomes a link to /dev/zero is refused at the size cap."""
    mod = project.load(SOURCE.format(v=1))
    os.remove(mod.__file__)
    os.symlink("/dev/zero", mod.__file__)
    limit = f"larger than {_files.MAX_BYTES >> 20} MB"
    wait(lambda: limit in (hotfunc.registry[mod.f].error or ""), timeout=10)
    assert mod.f() == 1 and hotfunc.is_running()


def test_a_slow_default_holds_up_no_other_file(project, wait):
    """Defaults are the application's code: while one runs, imports, the registry,
    stop() and other files' reloads do not wait for it."""
    slow = project.load("import time\nfrom hotfunc import hot\n@hot\ndef f(x=1):\n    return x\n")
    other = project.load(SOURCE.format(v=1))
    project.edit(
        slow, "import time\nfrom hotfunc import hot\n@hot\ndef f(x=time.sleep(3)):\n    return x\n"
    )
    time.sleep(0.3)  # not a check: gives the watcher time to enter the slow default
    _timed(lambda: repr(hotfunc.registry), limit=1)
    _timed(lambda: project.load(SOURCE.format(v="new")), limit=1)
    project.edit(other, SOURCE.format(v=2))
    _timed(lambda: hotfunc.reload(other.__file__), limit=1)
    assert other.f() == 2
    wait(lambda: slow.f() is None, timeout=10)


def test_a_slow_callback_holds_up_no_other_save(project, wait):
    """on_reload callbacks run on their own thread: a slow one delays no save."""
    release = threading.Event()
    hotfunc.on_reload(lambda event: release.wait(10))
    a = project.load(SOURCE.format(v=1))
    b = project.load(SOURCE.format(v=1))
    project.edit(a, SOURCE.format(v=2))
    wait(lambda: a.f() == 2)
    project.edit(b, SOURCE.format(v=2))
    try:
        wait(lambda: b.f() == 2, timeout=2)
    finally:
        release.set()


def test_save_made_while_stopped_is_applied_at_start(project, wait):
    """What is live is the file: a save between stop() and start() lands at start()."""
    mod = project.load(SOURCE.format(v=1))
    hotfunc.stop()
    project.edit(mod, SOURCE.format(v=2))
    hotfunc.start()
    wait(lambda: mod.f() == 2)


def test_mode_change_is_a_change(project, wait, tmp_path):
    """A save landing while the file is unreadable is applied once it is readable again.

    Root reads any file, so the check runs in a child without the capabilities
    that let root ignore file modes.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-mode override")
    caps = "-dac_override,-dac_read_search"
    script = tmp_path / "perm_main.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            import hotfunc
            from hotfunc.testing import wait_for
            path = os.path.join(os.path.dirname(__file__), "perm.py")
            src = "from hotfunc import hot\\n@hot\\ndef f():\\n    return {}\\n"
            open(path, "w").write(src.format(1))
            sys.path.insert(0, os.path.dirname(path))
            import perm
            hotfunc.start()
            os.chmod(path, 0o200)
            open(path, "w").write(src.format(2))
            os.chmod(path, 0o000)
            wait_for(lambda: "Permission denied" in (hotfunc.registry[perm.f].error or ""))
            assert perm.f() == 1
            os.chmod(path, 0o644)
            wait_for(lambda: perm.f() == 2)
            print("applied after chmod")
            """
        )
    )
    result = subprocess.run(
        [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "applied after chmod" in result.stdout


def test_folder_deleted_and_recreated_is_watched_again(project, wait, tmp_path):
    """A branch switch deletes and recreates a package folder: its saves still land."""
    pkg = tmp_path / "pkg_gone"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(SOURCE.format(v=1))
    from pkg_gone import mod  # type: ignore[import-not-found]

    shutil.rmtree(pkg)
    wait(lambda: "file deleted" in (hotfunc.registry[mod.f].error or ""))
    pkg.mkdir()
    (pkg / "mod.py").write_text(SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)
    (pkg / "mod.py").write_text(SOURCE.format(v=3))
    wait(lambda: mod.f() == 3 and hotfunc.registry[mod.f].error is None)


def test_folder_moved_away_and_copied_back(project, wait, tmp_path):
    """mv pkg pkg.old && cp -r pkg.old pkg: saves in pkg land, saves in pkg.old do not."""
    pkg = tmp_path / "pkg_moved"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(SOURCE.format(v=1))
    from pkg_moved import mod  # type: ignore[import-not-found]

    old = tmp_path / "pkg_moved.old"
    os.rename(pkg, old)
    shutil.copytree(old, pkg)
    (old / "mod.py").write_text(SOURCE.format(v=99))
    (pkg / "mod.py").write_text(SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)
    (pkg / "mod.py").write_text(SOURCE.format(v=3))
    wait(lambda: mod.f() == 3)


CHUNKED_WRITER = """
import os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
body = "".join("    x = x + 1\\n" for _ in range(600))
def src(v):
    return (f"from hotfunc import hot\\n@hot\\ndef f():\\n    return {v}\\n@hot\\ndef g():\\n"
            f"    x = {v} - 600\\n{body}    return ({v}, x)\\n")
end = time.time() + seconds
v = 0
while time.time() < end:
    v += 1
    data = src(v).encode()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    for i in range(0, len(data), 4096):  # vim writes 4 KB at a time
        os.write(fd, data[i : i + 4096])
        time.sleep(0.0005)
    os.close(fd)
    time.sleep(0.001)
print(v)
"""


def test_chunked_saves_are_never_swapped_in_torn(project, wait, tmp_path):
    """A writer mid-way through the next save never gets half a file swapped in."""
    writer = tmp_path / "writer.py"
    writer.write_text(CHUNKED_WRITER)
    body = "".join("    x = x + 1\n" for _ in range(600))
    mod = project.load(
        f"from hotfunc import hot\n@hot\ndef f():\n    return 0\n@hot\ndef g():\n"
        f"    x = 0 - 600\n{body}    return (0, x)\n"
    )
    bad: list[object] = []
    stop = threading.Event()

    def call() -> None:
        while not stop.is_set():
            result = mod.g()
            if not isinstance(result, tuple) or result[0] != result[1]:
                bad.append(result)

    caller = threading.Thread(target=call)
    caller.start()
    try:
        done = subprocess.run(
            [sys.executable, str(writer), mod.__file__, str(STRESS_SECONDS)],
            capture_output=True,
            text=True,
            check=True,
        )
        last = int(done.stdout)
        wait(lambda: mod.f() == last and mod.g() == (last, last))
    finally:
        stop.set()
        caller.join()
    assert bad == []


def test_fork_during_a_reload_leaves_the_child_in_line_with_the_file(project, wait):
    """A child forked mid-reload brings every function in line with the file."""
    count = 1500

    def source(v: int) -> str:
        return "from hotfunc import hot\n" + "".join(
            f"@hot\ndef f{i}():\n    return {v}\n" for i in range(count)
        )

    mod = project.load(source(0))
    funcs = [getattr(mod, f"f{i}") for i in range(count)]
    for v, delay in ((1, 0.0), (2, 0.005), (3, 0.02)):
        project.edit(mod, source(v))
        time.sleep(delay)  # not a check: aims the fork into the reload
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.close(read)
            try:
                wait_for(lambda: all(f() == v for f in funcs), timeout=20)  # noqa: B023
                os.write(write, b"ok")
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            answer = pipe.read()
        os.waitpid(pid, 0)
        assert answer == b"ok", f"child forked {delay} s after save {v} kept old code"
        wait(lambda: all(f() == v for f in funcs), timeout=20)  # noqa: B023


def _hotfunc_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    env.update(values)
    return env


@pytest.mark.parametrize("value", ["nope", "0.0", "garbage"])
def test_a_bad_environment_value_warns_and_keeps_the_default(tmp_path, value):
    """HOTFUNC_DISABLE and HOTFUNC_POLLING take yes/no words; a bad one is named in a warning."""
    code = "import hotfunc; from hotfunc import _state as r; " + (
        "print(r.settings.disabled, r.settings.polling)"
    )
    for name in ("HOTFUNC_DISABLE", "HOTFUNC_POLLING"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=_hotfunc_env(**{name: value}),
            cwd=tmp_path,
        )
        assert result.stdout.split() == ["False", "False"]
        assert f"{name}={value!r} is not understood" in result.stderr
        assert "1, true, yes, y, on" in result.stderr


def test_disabled_start_says_so_with_default_logging(tmp_path):
    """start() with HOTFUNC_DISABLE set prints one line, with no logging set up."""
    result = subprocess.run(
        [sys.executable, "-c", "import hotfunc; hotfunc.start()"],
        capture_output=True,
        text=True,
        env=_hotfunc_env(HOTFUNC_DISABLE="yes"),
        cwd=tmp_path,
    )
    assert result.stderr.strip() == "hotfunc: HOTFUNC_DISABLE is set; not watching any file"


def test_generated_methods_are_skipped_quietly(project, caplog):
    """hot(module) on dataclasses and NamedTuples warns about nothing: their
    generated methods have no source by design."""
    mod = project.load(
        """
        from dataclasses import dataclass
        from typing import NamedTuple

        @dataclass
        class Point:
            x: int = 0
            def norm(self):
                return abs(self.x)

        class Pair(NamedTuple):
            a: int
            b: int
        """
    )
    hotfunc.hot(mod)
    assert [e.qualname for e in hotfunc.registry] == ["Point.norm"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
