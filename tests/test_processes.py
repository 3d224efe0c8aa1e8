"""Forked and spawned processes have working watchers of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

FORK = """
import os, pathlib, sys, threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads running
import hotfunc
from hotfunc.testing import wait_for

module = pathlib.Path(sys.argv[1]) / "forked_app.py"
module.write_text("from hotfunc import hot\\n@hot\\ndef f():\\n    return 1\\n")
sys.path.insert(0, sys.argv[1])
import forked_app

hotfunc.start()
pid = os.fork()
if pid == 0:
    code = 1
    try:
        names = [t.name for t in threading.enumerate()]
        assert hotfunc.is_running() and "hotfunc-watcher" in names, names
        module.write_text(module.read_text().replace("return 1", "return 2"))
        wait_for(lambda: forked_app.f() == 2)
        hotfunc.stop()
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "child failed"
# The child's stop() left the parent's watcher running.
assert hotfunc.is_running()
wait_for(lambda: forked_app.f() == 2)  # the parent saw the child's save too
module.write_text(module.read_text().replace("return 2", "return 3"))
wait_for(lambda: forked_app.f() == 3)
print("ok")
"""

SPAWN = """
import multiprocessing, pathlib, sys

def child(folder):
    sys.path.insert(0, folder)
    import hotfunc
    from hotfunc.testing import wait_for
    import spawned_app
    hotfunc.start()
    path = pathlib.Path(folder) / "spawned_app.py"
    path.write_text(path.read_text().replace("return 1", "return 2"))
    wait_for(lambda: spawned_app.f() == 2)
    hotfunc.stop()

if __name__ == "__main__":
    folder = sys.argv[1]
    (pathlib.Path(folder) / "spawned_app.py").write_text(
        "from hotfunc import hot\\n@hot\\ndef f():\\n    return 1\\n"
    )
    proc = multiprocessing.get_context("spawn").Process(target=child, args=(folder,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0, proc.exitcode
    print("ok")
"""


def _run(tmp_path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_forked_child_gets_its_own_watcher(tmp_path):
    """After os.fork() the child reloads on its own, and its stop() leaves the parent's running."""
    result = _run(tmp_path, FORK)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_spawned_child_starts_as_usual(tmp_path):
    """A spawned child that imports the module and calls start() reloads."""
    result = _run(tmp_path, SPAWN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
