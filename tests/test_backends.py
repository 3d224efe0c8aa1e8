"""Watch back-ends: polling on request, and polling where inotify runs out."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import hotfunc
from hotfunc import _state

SOURCE = "from hotfunc import hot\n@hot\ndef f():\n    return {v!r}\n"


def test_polling_on_request(project, wait):
    """start(polling=True) uses watchdog's polling observer at the given interval."""
    mod = project.load(SOURCE.format(v=1))
    hotfunc.start(polling=True, interval=0.05)
    watcher = _state.watcher
    assert watcher.backend == "polling"
    project.edit(mod, SOURCE.format(v=2))
    wait(lambda: mod.f() == 2)
    project.edit(mod, SOURCE.format(v=3), atomic=True)
    wait(lambda: mod.f() == 3)


def test_polling_from_the_environment(tmp_path):
    """HOTFUNC_POLLING=1 turns polling on without code changes."""
    script = tmp_path / "polled.py"
    script.write_text(
        textwrap.dedent(
            """
            import pathlib
            import hotfunc
            from hotfunc import _state
            from hotfunc.testing import wait_for
            @hotfunc.hot
            def f():
                return 1
            hotfunc.start(interval=0.05)
            assert _state.watcher.backend == "polling"
            me = pathlib.Path(__file__)
            me.write_text(me.read_text().replace("return 1", "return 2"))
            wait_for(lambda: f() == 2)
            """
        )
    )
    env = {"HOTFUNC_POLLING": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, str(script)], check=True, env=env, timeout=30)


def test_bad_interval():
    """A non-positive polling interval is refused with the rule."""
    with pytest.raises(ValueError, match="interval must be greater than 0"):
        hotfunc.start(polling=True, interval=0)


LIMITED = """
import importlib.util, logging, pathlib, sys
import hotfunc
from hotfunc.testing import wait_for

records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("hotfunc").addHandler(handler)

root = pathlib.Path(sys.argv[1])
mods = []
for i in range(6):
    folder = root / f"pkg{i}"
    folder.mkdir()
    path = folder / f"limited_{i}.py"
    path.write_text(SOURCE.format(v=1))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mods.append((path, module))
hotfunc.start(interval=0.05)
warnings = [r.getMessage() for r in records if "max_user_watches" in r.getMessage()]
assert len(warnings) == 1, warnings
for path, module in mods:
    path.write_text(SOURCE.format(v=2))
    wait_for(lambda: module.f() == 2)
print("polled", sum(1 for r in records if "polling" in r.getMessage()))
"""


def _can_limit_inotify() -> bool:
    cmd = ["unshare", "-U", "-r", "sh", "-c", "echo 2 > /proc/sys/user/max_inotify_watches"]
    try:
        return subprocess.run(cmd, capture_output=True, check=False, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(
    not _can_limit_inotify(),
    reason="needs unshare and a user namespace to lower the inotify watch limit",
)
def test_inotify_watch_limit_falls_back_to_polling(tmp_path):
    """Past the inotify watch limit, folders are polled, with one WARNING naming the sysctl."""
    script = tmp_path / "limited.py"
    script.write_text(f"SOURCE = {SOURCE!r}\n" + LIMITED)
    # A user namespace of its own lets the test lower the limit for itself alone.
    shell = (
        f"echo 2 > /proc/sys/user/max_inotify_watches && exec {sys.executable} {script} {tmp_path}"
    )
    result = subprocess.run(
        ["unshare", "-U", "-r", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "polled 1"


@pytest.mark.parametrize("polling", [False, True])
def test_nothing_is_compiled_until_a_file_changes(project, wait, polling):
    """Watching compiles nothing ahead: a file is first parsed when it is edited."""
    early = project.load(SOURCE.format(v=1))
    hotfunc.start(polling=polling, interval=0.05)
    late = project.load(SOURCE.format(v=1))  # registered after start()
    sources = {s.filename: s for s in _state.registry.sources()}
    assert len(sources) == 2
    project.edit(late, SOURCE.format(v=2))
    wait(lambda: late.f() == 2)
    assert sources[early.__file__].baseline is None  # never edited, never compiled
    assert sources[late.__file__].baseline is not None
