"""python -m hotfunc run: a program made hot without editing it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import hotfunc
from hotfunc.processes import _importhook

APP = """
import sys, time
import helper

def own():
    return "own-1"

deadline = time.time() + 30
while time.time() < deadline:
    seen = (helper.value(), own())
    print(*seen, flush=True)
    if seen == ("helper-2", "own-2"):
        sys.exit(3)
    time.sleep(0.02)
sys.exit(1)
"""

HELPER = "def value():\n    return 'helper-1'\n"


def _hotfunc(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hotfunc", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _edit_both(helper: Path, app: Path) -> None:
    helper.write_text(helper.read_text().replace("helper-1", "helper-2"))
    app.write_text(app.read_text().replace('"own-1"', '"own-2"'))


def test_help_documents_every_option():
    """--help lists the command and every option of run."""
    top = subprocess.run(
        [sys.executable, "-m", "hotfunc", "--help"], capture_output=True, text=True
    )
    assert top.returncode == 0 and "run" in top.stdout
    run = subprocess.run(
        [sys.executable, "-m", "hotfunc", "run", "--help"], capture_output=True, text=True
    )
    for option in ("--watch PATTERN", "--polling", "--interval SECONDS", "-m MODULE", "script.py"):
        assert option in run.stdout


def test_run_script(tmp_path):
    """A script and the modules it imports are hot; the script's exit code is the command's."""
    (tmp_path / "helper.py").write_text(HELPER)
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    proc = _hotfunc("run", "app.py", "--an-arg", cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["helper-1", "own-1"]
    _edit_both(tmp_path / "helper.py", tmp_path / "app.py")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert out.split()[-2:] == ["helper-2", "own-2"]


def test_run_module(tmp_path):
    """-m package.module runs like python -m, with the package hot."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text(HELPER)
    (package / "server.py").write_text(
        textwrap.dedent(APP).replace("import helper", "from pkg import helper")
    )
    proc = _hotfunc("run", "-m", "pkg.server", cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["helper-1", "own-1"]
    _edit_both(package / "helper.py", package / "server.py")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err


@pytest.mark.parametrize(
    "command",
    [
        ["echo.py", "--port", "8", "-x", "--watch", "w"],
        ["--polling", "echo.py", "--port", "8", "-x", "--watch", "w"],
        ["--", "echo.py", "--port", "8", "-x", "--watch", "w"],
        ["-m", "echo", "--port", "8", "-x", "--watch", "w"],
        ["--watch", ".", "-mecho", "--port", "8", "-x", "--watch", "w"],
    ],
)
def test_arguments_reach_the_program(tmp_path, command):
    """Everything after the script or -m MODULE goes to the program, its options included."""
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1:])\n")
    done = subprocess.run(
        [sys.executable, "-m", "hotfunc", "run", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "['--port', '8', '-x', '--watch', 'w']", done.stderr


def test_version_and_run_usage_errors():
    """--version prints the version; a bad option of run shows run's usage."""
    version = subprocess.run(
        [sys.executable, "-m", "hotfunc", "--version"], capture_output=True, text=True
    )
    assert version.stdout.strip() == f"hotfunc {hotfunc.__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "hotfunc", "run", "--bogus", "app.py"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("usage: python -m hotfunc run ")
    assert "unrecognized arguments: --bogus" in bad.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_it_as_it_stops_the_program(tmp_path):
    """SIGINT ends the program the same way with or without hotfunc."""
    script = tmp_path / "loop.py"
    script.write_text("import time\nprint('up', flush=True)\nwhile True:\n    time.sleep(0.01)\n")
    codes = []
    for command in (
        [sys.executable, str(script)],
        [sys.executable, "-m", "hotfunc", "run", str(script)],
    ):
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        codes.append(proc.returncode)
    assert codes[0] == codes[1] != 0


def test_patterns():
    """Folders match what is below them, globs match paths, site-packages never does."""
    here = Path(__file__).resolve().parent
    folder = _importhook.Patterns([str(here)])
    assert folder(str(here / "test_cli.py")) and not folder(str(here.parent / "README.md"))
    glob = _importhook.Patterns([str(here / "test_c*.py")])
    assert glob(str(here / "test_cli.py")) and not glob(str(here / "test_docs.py"))
    assert not folder(str(here / "venv" / "lib" / "site-packages" / "x.py"))


def test_modules_that_do_not_match_load_as_before(tmp_path):
    """The hook leaves other modules' loaders and registration alone."""
    code = textwrap.dedent(
        f"""
        import sys, importlib
        from hotfunc.processes import _importhook
        from hotfunc import registry
        sys.path.insert(0, {str(tmp_path)!r})
        finder = _importhook.install(_importhook.Patterns([{str(tmp_path / "hot_*.py")!r}]))
        import hot_one, cold_one, json.decoder
        assert type(hot_one.__loader__).__name__ == "_HotLoader"
        assert type(cold_one.__loader__).__name__ == "SourceFileLoader"
        assert [e.name for e in registry] == ["hot_one.f"], [e.name for e in registry]
        """
    )
    (tmp_path / "hot_one.py").write_text("def f():\n    return 1\n")
    (tmp_path / "cold_one.py").write_text("def g():\n    return 1\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


GROWING_APP = """
import sys, time
import store

LIMIT = 1

def own():
    return LIMIT

deadline = time.time() + 30
while time.time() < deadline:
    seen = (store.value(), own(), globals().get("extra", lambda: None)())
    print(*seen, flush=True)
    if seen == ("store-2 {\\"n\\": 2}", 2, "extra"):
        sys.exit(3)
    time.sleep(0.02)
sys.exit(1)
"""

STORE = """
class Store:
    def name(self):
        return "store-1"

STORE = Store()

def value():
    return STORE.name()
"""


def test_run_applies_new_imports_helpers_methods_and_constants(tmp_path):
    """Under run, the script and an imported module both take new imports, helpers,
    methods and constants; the script's boot code and its main loop never run again."""
    (tmp_path / "store.py").write_text(textwrap.dedent(STORE))
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(GROWING_APP))
    proc = _hotfunc("run", "app.py", cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["store-1", "1", "None"]
    (tmp_path / "store.py").write_text(
        "import json\n"
        + textwrap.dedent(STORE).replace(
            '        return "store-1"\n',
            '        return "store-2 " + json.dumps({"n": helper()})\n\n'
            "    def unused(self):\n        return 0\n",
        )
        + "\ndef helper():\n    return 2\n"
    )
    app.write_text(
        app.read_text()
        .replace("LIMIT = 1", "LIMIT = 2")
        .replace("def own():", "def extra():\n    return 'extra'\n\ndef own():")
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "ran: LIMIT = 2; added: extra" in err
    assert "added: Store.unused, helper" in err


def test_run_starts_any_script_python_runs(tmp_path):
    """A script nested deeper than hotfunc's parser takes (on Python 3.11) still runs,
    with a warning; where the parser copes, it runs with its functions hot."""
    script = tmp_path / "deep.py"
    script.write_text("TOTAL = " + " + ".join(["1"] * 1000) + "\nprint(TOTAL)\n")
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    hot = subprocess.run(
        [sys.executable, "-m", "hotfunc", "run", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (hot.returncode, hot.stdout) == (plain.returncode, plain.stdout) == (0, "1000\n")
    warnings = [line for line in hot.stderr.splitlines() if "WARNING" in line]
    assert all("nests too deep for hotfunc's parser" in w for w in warnings)
    assert len(warnings) == (1 if sys.version_info < (3, 12) else 0)
