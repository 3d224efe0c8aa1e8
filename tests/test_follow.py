"""Python processes started by a hot process follow its saves, and only it speaks.

Every test runs real processes: a parent under ``run`` or after ``start()``,
children by multiprocessing, process pools, ``sys.executable`` subprocesses
and uvicorn's workers, and a real save on disk.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not (Path(sysconfig.get_paths()["purelib"]) / "hotfunc-follow.pth").exists(),
    reason="hotfunc is not installed here (pip install -e .), so its start-up hook is missing",
)

# The parent maps over a pool until every worker answers with the new code.
# ``work`` sleeps a little so that each worker takes some of the tasks.
POOL = """
import concurrent.futures, multiprocessing, os, sys, time
{prelude}
from work import work

def answers(pool):
    return dict(pool.map(work, range(16)))

if __name__ == "__main__":
    method = sys.argv[1]
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        print("before", sorted(set(answers(pool).values())), flush=True)
        from hotfunc.testing import write_source, wait_for
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work.py")
        with open(path) as fh:
            text = fh.read()
        write_source(path, text.replace("'old'", "'new'"), atomic=True)
        seen = {{}}
        def everywhere():
            seen.update(answers(pool))
            live = set(pool._processes)
            return len(live) == 2 and all(seen.get(pid) == "new" for pid in live)
        wait_for(everywhere, timeout=20)
        import hotfunc
        print("after", sorted(set(answers(pool).values())), flush=True)
        print("table", repr(hotfunc.registry).splitlines()[1], flush=True)
"""

WORK = """
import os, time

def work(i):
    time.sleep(0.01)
    return os.getpid(), 'old'
"""


def _python(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    environ.update(env, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )


def _pool_program(tmp_path: Path, prelude: str = "", work: str = WORK) -> None:
    (tmp_path / "work.py").write_text(textwrap.dedent(work))
    (tmp_path / "main.py").write_text(textwrap.dedent(POOL.format(prelude=prelude)))


def _lines(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(word)]


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_pool_workers_follow_a_run_parent(tmp_path, method):
    """Under ``run``, every worker of a process pool runs the saved code, and
    only the parent prints its startup and reload lines."""
    _pool_program(tmp_path)
    done = _python(tmp_path, ["-W", "ignore::DeprecationWarning", "-m", "hotfunc", "run",
                              "main.py", method])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "before") == ["before ['old']"]
    assert _lines(done.stdout, "after") == ["after ['new']"]
    assert re.search(r"^table followed by [2-9] processes: pid \d+", done.stdout, re.M)
    startup = [line for line in done.stderr.splitlines() if "become hot" in line]
    assert len(startup) == 1, done.stderr
    assert "hotfunc[" not in done.stderr, done.stderr  # no child said anything


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_pool_workers_follow_a_started_parent(tmp_path, method):
    """After ``start()``, workers that import a module of ``@hot`` functions
    follow too, though they never call ``start()`` themselves."""
    work = WORK.replace("def work", "from hotfunc import hot\n\n@hot\ndef work")
    _pool_program(tmp_path, "import hotfunc; hotfunc.start()", work)
    done = _python(tmp_path, ["main.py", method])
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "after") == ["after ['new']"]
    assert _lines(done.stderr, "hotfunc: watching") == [
        "hotfunc: watching 0 files in 0 folders (inotify)"
    ]


SUBPROCESS = """
import os, subprocess, sys
import hotfunc
{configure}
import greet
hotfunc.start()
child = subprocess.Popen(
    [sys.executable, "-c", "import greet, sys, time\\n"
     "for line in sys.stdin:\\n"
     "    print(greet.greet(), flush=True)\\n"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, {child_env}),
)
def ask():
    child.stdin.write("?\\n"); child.stdin.flush()
    return child.stdout.readline().strip()
print("child", ask(), flush=True)
from hotfunc.testing import wait_for, write_source
write_source("greet.py", open("greet.py").read().replace("hello", "howdy"))
wait_for(lambda: greet.greet() == "howdy")
try:
    wait_for(lambda: ask() == "howdy", timeout={timeout})
    print("child followed", flush=True)
except AssertionError:
    print("child stayed", ask(), flush=True)
child.stdin.close()
child.wait()
"""

GREET = """
from hotfunc import hot

@hot
def greet():
    return "hello"
"""


def _subprocess_program(
    tmp_path: Path, configure: str = "", timeout: float = 20, child_env: str = ""
) -> None:
    (tmp_path / "greet.py").write_text(textwrap.dedent(GREET))
    code = SUBPROCESS.format(configure=configure, timeout=timeout, child_env=child_env)
    (tmp_path / "main.py").write_text(textwrap.dedent(code))


def test_a_sys_executable_subprocess_follows(tmp_path):
    _subprocess_program(tmp_path)
    done = _python(tmp_path, ["main.py"])
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "child") == ["child hello", "child followed"]


def test_follow_children_false_keeps_children_out(tmp_path):
    """The opt-out: a child started after it runs the code it imported."""
    _subprocess_program(tmp_path, "hotfunc.configure(follow_children=False)", timeout=1)
    done = _python(tmp_path, ["main.py"])
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "child") == ["child hello", "child stayed hello"]


def test_the_opt_out_variable_keeps_children_out(tmp_path):
    _subprocess_program(tmp_path, timeout=1)
    done = _python(tmp_path, ["main.py"], HOTFUNC_FOLLOW_CHILDREN="0")
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "child") == ["child hello", "child stayed hello"]


FAILING = """
import os, subprocess, sys, time
import hotfunc, greet
hotfunc.start()
child = subprocess.Popen(
    [sys.executable, "-c", "import greet, sys\\n"
     "for line in sys.stdin:\\n"
     "    print(greet.greet(), flush=True)\\n"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, ROLE="child"),
)
def ask():
    child.stdin.write("?\\n"); child.stdin.flush()
    return child.stdout.readline().strip()
print("child", ask(), flush=True)
from hotfunc.testing import wait_for, write_source
text = open("greet.py").read()
write_source("greet.py", text.replace("hello", "howdy") + (
    "\\nimport os\\nif os.environ.get('ROLE') == 'child':\\n    raise RuntimeError('only here')\\n"
))
wait_for(lambda: greet.greet() == "howdy")
wait_for(lambda: ask() == "howdy", timeout=20)
print("child", ask(), "pid", child.pid, flush=True)
child.stdin.close()
child.wait()
"""


def test_a_child_reports_its_own_failure_with_its_pid(tmp_path):
    """A statement that raises only in the child: the child says so, naming
    itself and ``file:line``; the rest of the save applies there too."""
    (tmp_path / "greet.py").write_text(textwrap.dedent(GREET))
    (tmp_path / "main.py").write_text(textwrap.dedent(FAILING))
    done = _python(tmp_path, ["main.py"])
    assert done.returncode == 0, done.stderr
    pid = _lines(done.stdout, "child howdy pid")[0].split()[-1]
    failures = [line for line in done.stderr.splitlines() if "only here" in line]
    assert failures, done.stderr
    assert all(line.startswith(f"hotfunc[{pid}]: WARNING: ") for line in failures), failures
    lines = (tmp_path / "greet.py").read_text().splitlines()
    where = f"greet.py:{lines.index(next(x for x in lines if 'only here' in x)) + 1}:"
    assert any(where in line for line in failures), (where, failures)
    assert not [line for line in done.stderr.splitlines() if "swapped" in line and "[" in line]


def test_disable_in_a_child_keeps_it_out(tmp_path):
    _subprocess_program(tmp_path, timeout=1, child_env="HOTFUNC_DISABLE='1'")
    done = _python(tmp_path, ["main.py"])
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout, "child") == ["child hello", "child stayed hello"]


def test_a_process_outside_the_tree_loads_nothing(tmp_path):
    """The start-up hook imports nothing without the variable."""
    done = _python(tmp_path, ["-c", "import sys; print(any('hotfunc' in m for m in sys.modules))"])
    assert done.stdout.strip() == "False", done.stderr


def test_a_malformed_variable_warns_and_the_process_runs(tmp_path):
    done = _python(tmp_path, ["-c", "print('ran')"], HOTFUNC_FOLLOW="{not json")
    assert done.stdout.strip() == "ran"
    assert "not following the parent process's saves" in done.stderr


WEBAPP = """
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"{os.getpid()} {answer()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

def answer():
    return "old"
"""


def test_uvicorn_workers_follow_a_run_parent(tmp_path):
    """``run -m uvicorn --workers 2``: both workers serve the saved code."""
    import socket
    import urllib.request

    from hotfunc.testing import wait_for, write_source

    pytest.importorskip("uvicorn")
    (tmp_path / "webapp.py").write_text(textwrap.dedent(WEBAPP))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "hotfunc", "run", "-m", "uvicorn", "webapp:app",
         "--workers", "2", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path, env=environ, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    latest: dict[str, str] = {}

    def ask() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
            pid, answer = reply.read().decode().split()
        latest[pid] = answer

    def both(value: str) -> bool:
        for _ in range(8):
            ask()
        return len(latest) == 2 and set(latest.values()) == {value}

    try:
        wait_for(lambda: both("old"), timeout=30)
        write_source(tmp_path / "webapp.py", textwrap.dedent(WEBAPP).replace('"old"', '"new"'))
        wait_for(lambda: both("new"), timeout=20)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    startup = [line for line in stderr.splitlines() if "become hot" in line]
    assert len(startup) == 1, stderr
    assert "hotfunc[" not in stderr, stderr
