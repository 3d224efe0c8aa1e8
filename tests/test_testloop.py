"""``pytest --hot``: a real pytest session in a real process, real saves, read on a deadline.

Each test writes a small project (a package and its tests) in ``tmp_path``,
starts ``python -m pytest --hot`` on it, saves files as an editor does, and
reads what the loop prints: which tests ran, their outcomes (``-rA`` lists
each), and pytest's summary line.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from hotfunc.testing import wait_for, write_source

pytest.importorskip("pytest_asyncio")

SUMMARY = re.compile(r"^=* ?(?:\d+ \w+(?:, )?)+ in [\d.]+s")
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+)")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return env


class Loop:
    """``python -m pytest --hot`` on a project, its output gathered by a thread."""

    def __init__(
        self, root: Path, *args: str, command: tuple[str, ...] = (), cache: bool = False
    ) -> None:
        self.root = root
        base = command or (sys.executable, "-m", "pytest", "--hot")
        no_cache = () if cache else ("-p", "no:cacheprovider")
        self.process = subprocess.Popen(
            [*base, *no_cache, "-rA", "-o", "timeout=0", *args],
            cwd=root,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def runs(self) -> list[list[str]]:
        """Each run's lines, ended by its summary line."""
        runs: list[list[str]] = []
        current: list[str] = []
        for line in list(self.lines):
            current.append(line)
            if SUMMARY.match(line.strip("= ")) or SUMMARY.match(line):
                runs.append(current)
                current = []
        return runs

    def wait_runs(self, count: int, timeout: float = 30) -> list[str]:
        """The lines of run number ``count`` (1 is the first), once it ended."""
        wait_for(lambda: len(self.runs()) >= count or self.process.poll() is not None, timeout)
        runs = self.runs()
        assert len(runs) >= count, f"run {count} never ended:\n{self.output}"
        return runs[count - 1]

    def save(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_source(path, textwrap.dedent(text).lstrip(), atomic=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def outcomes(lines: list[str]) -> dict[str, str]:
    """nodeid → PASSED/FAILED/... from a run's ``-rA`` lines."""
    found: dict[str, str] = {}
    for line in lines:
        match = OUTCOME.match(line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def why(lines: list[str]) -> str:
    return next((line for line in lines if line.startswith("hotfunc: ") and "→" in line), "")


def project(root: Path, files: dict[str, str]) -> Path:
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n'
        'asyncio_default_fixture_loop_scope = "function"\n'
    )
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


CART = """
RATE = 2


def total(items):
    return sum(items) * RATE


def count(items):
    return len(items)
"""

TESTS = """
from app import cart


def test_total():
    assert cart.total([1, 2]) == 6


def test_count():
    assert cart.count([1, 2]) == 2


def test_plain():
    assert 1 + 1 == 2
"""


@pytest.fixture
def loop_of(tmp_path: Path):
    started: list[Loop] = []

    def start(files: dict[str, str], *args: str, **kwargs: tuple[str, ...]) -> Loop:
        loop = Loop(project(tmp_path, files), *args, **kwargs)
        started.append(loop)
        return loop

    yield start
    for loop in started:
        loop.stop()


def test_a_source_save_runs_the_tests_that_ran_the_changed_function(loop_of) -> None:
    loop = loop_of({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS})
    first = loop.wait_runs(1)
    assert set(outcomes(first).values()) == {"PASSED"} and len(outcomes(first)) == 3

    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    second = loop.wait_runs(2)
    assert outcomes(second) == {"tests/test_cart.py::test_count": "FAILED"}
    assert "hotfunc: app/cart.py: count v1 → 1 test (1 affected)" in second
    # pytest's own traceback, with the real file:line of the test and the source.
    assert "tests/test_cart.py:9: AssertionError" in "\n".join(second)
    assert any(line.startswith("E       assert 3 == 2") for line in second)

    # Fixed: the failed test runs again, and nothing else.
    loop.save("app/cart.py", CART)
    third = loop.wait_runs(3)
    assert outcomes(third) == {"tests/test_cart.py::test_count": "PASSED"}

    # A constant: the tests whose code reads it.
    loop.save("app/cart.py", CART.replace("RATE = 2", "RATE = 3"))
    fourth = loop.wait_runs(4)
    assert outcomes(fourth) == {"tests/test_cart.py::test_total": "FAILED"}
    assert "assert 9 == 6" in "\n".join(fourth)


def test_a_test_module_save_collects_it_again(loop_of) -> None:
    loop = loop_of({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    changed = TESTS.replace("def test_plain():\n    assert 1 + 1 == 2\n", "").replace(
        "== 2\n", "== 3\n"
    ) + textwrap.dedent(
        """

            @pytest.mark.parametrize("n", [1, 2])
            def test_new(n):
                assert cart.count([0] * n) == n
            """
    )
    loop.save("tests/test_cart.py", "import pytest\n" + changed)
    second = loop.wait_runs(2)
    assert outcomes(second) == {
        "tests/test_cart.py::test_count": "FAILED",
        "tests/test_cart.py::test_new[1]": "PASSED",
        "tests/test_cart.py::test_new[2]": "PASSED",
    }
    # The removed test is gone: "a" would not run it, and no run reports it.
    loop.save("app/cart.py", CART.replace("def count(items):", "def count(items, /):"))
    third = loop.wait_runs(3)
    assert "tests/test_cart.py::test_plain" not in outcomes(third)
    assert outcomes(third)["tests/test_cart.py::test_new[1]"] == "PASSED"


HEARTBEAT = """
import threading
import time


def beat():
    return 1


def _loop():
    while True:
        beat()
        time.sleep(0.001)


threading.Thread(target=_loop, daemon=True).start()
"""

# The tests that do not call beat() wait a moment: the thread runs meanwhile.
BEATING = """
import time

from app import cart, heartbeat


def test_total():
    time.sleep(0.05)
    assert cart.total([1, 2]) == 6


def test_beat():
    assert heartbeat.beat() == 1


def test_plain():
    time.sleep(0.05)
    assert 1 + 1 == 2
"""


def test_the_selection_is_the_tests_own_thread_on_every_python(loop_of) -> None:
    # A library's background thread runs beat() all along, during every
    # test: the tests that run it are those that call it themselves.
    # (sys.monitoring, on 3.12 and later, reports every thread.)
    loop = loop_of(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "app/heartbeat.py": HEARTBEAT,
            "tests/test_beat.py": BEATING,
        }
    )
    assert len(outcomes(loop.wait_runs(1))) == 3
    loop.save("app/heartbeat.py", HEARTBEAT.replace("return 1", 'return int("1")'))
    assert outcomes(loop.wait_runs(2)) == {"tests/test_beat.py::test_beat": "PASSED"}
    loop.save("app/cart.py", CART.replace("RATE = 2", "RATE = 3"))
    assert outcomes(loop.wait_runs(3)) == {"tests/test_beat.py::test_total": "FAILED"}


SHOUT = """
SUFFIX = "!"


def shout(words, loud=False):
    if loud:
        return [w + SUFFIX for w in words]
    return list(words)
"""

SHOUTING = """
from app.shout import shout


def test_quiet():
    assert shout(["a"]) == ["a"]


def test_loud():
    assert shout(["a"], loud=True) == ["a!"]
"""


def test_a_comprehension_is_part_of_its_function_on_every_python(loop_of) -> None:
    # 3.12 and later compile a list comprehension into the function around
    # it; 3.11 makes it a function of its own, which test_quiet never starts.
    # A test that ran shout() is reached by what its comprehension reads and
    # by an edit inside it, on every Python.
    loop = loop_of({"app/__init__.py": "", "app/shout.py": SHOUT, "tests/test_shout.py": SHOUTING})
    assert len(outcomes(loop.wait_runs(1))) == 2
    loop.save("app/shout.py", SHOUT.replace('SUFFIX = "!"', 'SUFFIX = "?"'))
    assert outcomes(loop.wait_runs(2)) == {
        "tests/test_shout.py::test_quiet": "PASSED",
        "tests/test_shout.py::test_loud": "FAILED",
    }
    upper = SHOUT.replace('SUFFIX = "!"', 'SUFFIX = "?"').replace(
        "w + SUFFIX", "w.upper() + SUFFIX"
    )
    loop.save("app/shout.py", upper)
    assert outcomes(loop.wait_runs(3)) == {
        "tests/test_shout.py::test_quiet": "PASSED",
        "tests/test_shout.py::test_loud": "FAILED",
    }
    # A compound statement changes the names it binds, not every name it reads.
    compound = 'SUFFIX = "?"\n\nif sys.version_info >= (3,):\n    EXTRA = SUFFIX * 2\n'
    loop.save("app/shout.py", "import sys\n" + upper.replace('SUFFIX = "?"\n', compound))
    fourth = loop.wait_runs(4)
    assert outcomes(fourth) == {"tests/test_shout.py::test_loud": "FAILED"}
    assert "hotfunc: app/shout.py: EXTRA, sys → 1 test (1 failed last time)" in fourth


def test_a_new_session_runs_what_changed_since_the_last_one(tmp_path) -> None:
    failing = TESTS + "\n\ndef test_broken():\n    assert cart.count([]) == 1\n"
    root = project(
        tmp_path, {"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": failing}
    )
    first = Loop(root, cache=True)
    try:
        assert len(outcomes(first.wait_runs(1))) == 4
        wait_for(lambda: "hotfunc: watching for saves" in first.output)  # the record is kept
    finally:
        first.stop()
    # Between the sessions: a function changes, a test module is added.
    listed = CART.replace("return len(items)", "return len(list(items))")
    write_source(root / "app/cart.py", listed)
    write_source(root / "tests/test_more.py", "def test_more():\n    assert True\n")
    second = Loop(root, cache=True)
    try:
        run = second.wait_runs(1)
        assert outcomes(run) == {
            "tests/test_cart.py::test_count": "PASSED",  # it ran the changed function
            "tests/test_cart.py::test_broken": "FAILED",  # it failed last time
            "tests/test_more.py::test_more": "PASSED",  # new
        }
        assert (
            "hotfunc: since the last session: app/cart.py changed → 3 tests (2 affected, "
            "1 failed last time, 1 new); 2 carried over (2 passed)"
        ) in run, [line for line in run if line.startswith("hotfunc")]
        # A save selects from the whole record, the tests not run at start too.
        second.save("app/cart.py", listed.replace("RATE = 2", "RATE = 3"))
        assert outcomes(second.wait_runs(2)) == {
            "tests/test_cart.py::test_total": "FAILED",
            "tests/test_cart.py::test_broken": "FAILED",
        }, second.output
    finally:
        second.stop()


def test_a_record_made_under_another_setup_is_not_used_and_says_why(tmp_path) -> None:
    files = {"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS}
    root = project(tmp_path, {**files, "tests/conftest.py": "RATE = 2\n"})

    def session(*args: str) -> list[str]:
        loop = Loop(root, *args, cache=True)
        try:
            # After the first run (none, when no test is to run): the record is kept.
            wait_for(lambda: "hotfunc: watching for saves" in loop.output, 30)
            return list(loop.lines)
        finally:
            loop.stop()

    def said(run: list[str]) -> str:
        return next((line for line in run if line.startswith("hotfunc: ")), "")

    session()
    # Verbosity and which tests run do not change what a test does.
    quiet = session("-q", "-k", "count or total or plain")
    assert said(quiet) == (
        "hotfunc: since the last session: nothing changed → no test to run; "
        "3 carried over (3 passed)"
    )
    warned = session("-W", "error::UserWarning")
    assert said(warned) == (
        "hotfunc: the last session's record is not used: the options changed: "
        "-o timeout=0 then, -o timeout=0 -W error::UserWarning now; running every test"
    )
    assert len(outcomes(warned)) == 3
    write_source(root / "tests/conftest.py", "RATE = 3\n")
    changed = session("-W", "error::UserWarning")
    assert said(changed) == (
        "hotfunc: the last session's record is not used: tests/conftest.py changed since; "
        "running every test"
    )
    settings = (root / "pyproject.toml").read_text() + "xfail_strict = true\n"
    write_source(root / "pyproject.toml", settings)
    assert said(session("-W", "error::UserWarning")) == (
        "hotfunc: the last session's record is not used: pytest's settings in pyproject.toml "
        "changed; running every test"
    )
    # Asked for: every test, with the record in place.
    everything = session("-W", "error::UserWarning", "--hot-all")
    assert len(outcomes(everything)) == 3, everything
    assert said(everything) == "hotfunc: watching for saves", everything


FIXTURES = """
import pytest

SETUPS = []


@pytest.fixture(scope="session")
def db():
    SETUPS.append("db")
    yield {"rows": 3}


@pytest.fixture
def rows(db):
    return db["rows"]
"""

FIXTURE_TESTS = """
from tests import conftest


def test_rows(rows):
    assert rows == 3


def test_setups(db):
    assert conftest.SETUPS == ["db"]


def test_free():
    assert True
"""


def test_session_fixtures_stay_up_and_a_changed_fixture_is_set_up_again(loop_of) -> None:
    loop = loop_of(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "tests/__init__.py": "",
            "tests/conftest.py": FIXTURES,
            "tests/test_db.py": FIXTURE_TESTS,
        }
    )
    assert set(outcomes(loop.wait_runs(1)).values()) == {"PASSED"}
    # The session fixture is not set up again by a second run.
    loop.save("tests/test_db.py", FIXTURE_TESTS.replace("assert True", "assert len('ab') == 2"))
    second = loop.wait_runs(2)
    assert outcomes(second) == {"tests/test_db.py::test_free": "PASSED"}
    loop.save("tests/test_db.py", FIXTURE_TESTS + "\n\ndef test_more(db):\n    assert db\n")
    third = loop.wait_runs(3)
    assert "tests/test_db.py::test_more" in outcomes(third)
    assert outcomes(third).get("tests/test_db.py::test_setups", "PASSED") == "PASSED"

    # Its code changed: torn down, set up again, with what uses it.
    loop.save("tests/conftest.py", FIXTURES.replace('{"rows": 3}', '{"rows": 4}'))
    fourth = loop.wait_runs(4)
    assert outcomes(fourth) == {
        "tests/test_db.py::test_rows": "FAILED",
        "tests/test_db.py::test_setups": "FAILED",
        "tests/test_db.py::test_more": "PASSED",
    }
    assert "assert 4 == 3" in "\n".join(fourth)
    assert "['db', 'db']" in "\n".join(fourth)  # set up a second time, not more


def test_hot_fresh_fixtures_sets_every_fixture_up_on_each_run(loop_of) -> None:
    loop = loop_of(
        {
            "app/__init__.py": "",
            "tests/__init__.py": "",
            "tests/conftest.py": FIXTURES,
            "tests/test_db.py": FIXTURE_TESTS,
        },
        "--hot-fresh-fixtures",
    )
    assert set(outcomes(loop.wait_runs(1)).values()) == {"PASSED"}
    # The session fixture's code is the same, and it is set up again all the same.
    loop.save("tests/test_db.py", FIXTURE_TESTS.replace('== ["db"]', '== ["db"] * 1'))
    second = loop.wait_runs(2)
    assert outcomes(second) == {"tests/test_db.py::test_setups": "FAILED"}
    assert "['db', 'db']" in "\n".join(second)


def test_a_class_rebuilt_starts_the_loop_afresh(loop_of) -> None:
    shapes = """
    class Shape:
        sides = 3

        def corners(self):
            return self.sides
    """
    tests = """
    from app.shapes import Shape

    SHARED = Shape()


    def test_corners():
        assert SHARED.corners() == 3


    def test_class():
        assert Shape.__bases__ == (object,)
    """
    loop = loop_of({"app/__init__.py": "", "app/shapes.py": shapes, "tests/test_s.py": tests})
    loop.wait_runs(1)
    # A new base: the class is rebuilt; SHARED, made at import, keeps the old one.
    loop.save(
        "app/shapes.py",
        "class Base:\n    pass\n\n\n"
        + textwrap.dedent(shapes).replace("class Shape:", "class Shape(Base):"),
    )
    second = loop.wait_runs(2)
    text = "\n".join(second)
    assert "starting afresh in a new process" in loop.output
    assert "hotfunc: started afresh:" in text
    assert outcomes(second) == {
        "tests/test_s.py::test_class": "FAILED",
        "tests/test_s.py::test_corners": "PASSED",
    }
    # The fresh process goes on as a loop.
    loop.save(
        "app/shapes.py",
        "class Base:\n    pass\n\n\n"
        + textwrap.dedent(shapes)
        .replace("class Shape:", "class Shape(Base):")
        .replace("return self.sides", "return self.sides + 1"),
    )
    third = loop.wait_runs(3)
    assert outcomes(third)["tests/test_s.py::test_corners"] == "FAILED"


def test_a_failed_save_runs_the_affected_tests_in_a_fresh_process(loop_of) -> None:
    loop = loop_of({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    loop.save("app/cart.py", CART.replace("def count(items):", "def count(items:"))
    second = loop.wait_runs(2)
    text = "\n".join(second)
    assert "app/cart.py:8:" in loop.output  # the engine's line, with file:line
    assert "run in a fresh pytest process" in loop.output
    assert "error" in second[-1]  # what a fresh run says: it cannot import the module
    # Fixed: back in the loop's own process.
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) * 1"))
    third = loop.wait_runs(3)
    assert "fresh" not in "\n".join(third)
    assert outcomes(third).get("tests/test_cart.py::test_count") == "PASSED", text


def test_a_test_module_saved_with_a_failed_save_is_collected_again(loop_of) -> None:
    """A checkout: a source that fails and a test module with a new test, in one batch."""
    loop = loop_of({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    # A test renamed (the record knows it by its old name) and a test added.
    new_test = TESTS.replace("def test_count():", "def test_count_renamed():")
    new_test += "\n\ndef test_count_more():\n    assert cart.count([1, 2, 3]) == 3\n"
    loop.save("tests/test_cart.py", new_test)
    loop.save("app/cart.py", CART.replace("def count(items):", "def count(items:"))
    wait_for(lambda: "run in a fresh pytest process" in loop.output, 30)
    wait_for(lambda: len(loop.runs()) >= 2, 30)
    assert "not found" not in loop.output
    fixed = CART.replace("return len(items)", "return len(items) * 1")
    runs = len(loop.runs())
    loop.save("app/cart.py", fixed)
    # The new test is the loop's own now: the fix runs it in the loop's process.
    wait_for(
        lambda: any(
            outcomes(run).get("tests/test_cart.py::test_count_more") == "PASSED"
            for run in loop.runs()[runs:]
        ),
        30,
    )


def test_a_failed_save_runs_the_new_and_changed_tests_of_a_saved_test_module(loop_of) -> None:
    """The fresh process collects the saved test module; the loop's unaffected tests stay out."""
    source = CART + "\n\ndef unused():\n    return 0\n"
    loop = loop_of({"app/__init__.py": "", "app/cart.py": source, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    changed = TESTS.replace("cart.count([1, 2]) == 2", "cart.count([1, 2, 3]) == 3")
    loop.save("tests/test_cart.py", changed + "\n\ndef test_new():\n    assert True\n")
    loop.save("app/cart.py", CART)  # a function removed: the engine keeps it, and says so
    second = loop.wait_runs(2)
    assert "the new and changed tests of 1 test file run in a fresh pytest process" in loop.output
    assert outcomes(second) == {
        "tests/test_cart.py::test_count": "PASSED",
        "tests/test_cart.py::test_new": "PASSED",
    }, loop.output
    # The loop collected the module after the fresh run: its tests are the loop's.
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    third = loop.wait_runs(3)
    assert outcomes(third)["tests/test_cart.py::test_count"] == "FAILED", loop.output


def test_a_save_that_fails_again_says_why_and_selects_by_its_changes(loop_of) -> None:
    """A removed function fails each save of its file; the rest of the file is applied."""
    source = CART + "\n\ndef unused():\n    return 0\n"
    loop = loop_of({"app/__init__.py": "", "app/cart.py": source, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    loop.save("app/cart.py", CART)
    loop.wait_runs(2)
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    third = loop.wait_runs(3)
    assert outcomes(third) == {"tests/test_cart.py::test_count": "FAILED"}, loop.output
    removed = [line for line in loop.output.splitlines() if "'unused' is no longer defined" in line]
    assert len(removed) == 2, loop.output  # at each save that failed for it


def test_a_new_test_file_saved_with_a_failed_save_runs_in_the_fresh_process(loop_of) -> None:
    loop = loop_of({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS})
    loop.wait_runs(1)
    loop.save("tests/test_more.py", "def test_more():\n    assert True\n")
    # A file that cannot be collected does not stop the others, as in the loop.
    loop.save("tests/test_broken.py", "import not_a_module_here\n")
    loop.save("app/cart.py", CART.replace("def count(items):", "def count(items:"))
    wait_for(lambda: "PASSED tests/test_more.py::test_more" in loop.output, 30)
    assert "ERROR tests/test_broken.py" in loop.output


def test_a_change_that_reaches_the_watcher_as_several_batches_runs_once(loop_of, tmp_path) -> None:
    """A checkout written while the watcher applies its first files: one run for all of it."""
    mark = tmp_path / "applying"
    slow_tests = "from app import slow\n\n\ndef test_slow():\n    assert slow.VALUE == 1\n"
    loop = loop_of(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "app/slow.py": "VALUE = 1\n",
            "tests/test_cart.py": TESTS,
            "tests/test_slow.py": slow_tests,
        }
    )
    loop.wait_runs(1)
    # New statements run once as the save is applied: the first batch tells
    # when it is being applied, and the second takes a while to apply.
    loop.save(
        "app/slow.py",
        f"import pathlib\nimport time\n\npathlib.Path({str(mark)!r}).touch()\n"
        "time.sleep(0.3)\nVALUE = 2\n",
    )
    wait_for(mark.exists, 30)
    loop.save(
        "app/cart.py",
        "import time\n\ntime.sleep(0.3)\n"
        + CART.replace("return len(items)", "return len(items) + 1"),
    )
    second = loop.wait_runs(2)
    assert outcomes(second) == {
        "tests/test_slow.py::test_slow": "FAILED",
        "tests/test_cart.py::test_count": "FAILED",
    }, loop.output


HELPERS = """
def seed():
    return 3


def close(log):
    log.append("closed")


def unit():
    return 1
"""

WINDOW_TESTS = """
import unittest

import pytest

from app import helpers

LOG = []


@pytest.fixture
def seeded():
    yield helpers.seed()
    helpers.close(LOG)


def test_seeded(seeded):
    assert seeded == 3


class TestUnit(unittest.TestCase):
    def test_unit(self):
        self.assertEqual(helpers.unit(), helpers.unit())
        self.assertEqual(helpers.unit(), 1)


def test_unit_again():
    assert helpers.unit() == 1


def test_other():
    assert True
"""


def test_code_run_by_fixtures_their_teardown_and_unittest_cases_is_recorded(loop_of) -> None:
    # Recording is on only where the project's code runs: each of these
    # places must still reach the tests, and nothing else.
    loop = loop_of(
        {"app/__init__.py": "", "app/helpers.py": HELPERS, "tests/test_w.py": WINDOW_TESTS}
    )
    assert set(outcomes(loop.wait_runs(1)).values()) == {"PASSED"}
    seeded, unit = "tests/test_w.py::test_seeded", "tests/test_w.py::TestUnit::test_unit"
    # A function that ran more than once in a test is recorded for the next ones too.
    again = "tests/test_w.py::test_unit_again"

    loop.save("app/helpers.py", HELPERS.replace("return 3", "return 4"))
    assert outcomes(loop.wait_runs(2)) == {seeded: "FAILED"}
    loop.save("app/helpers.py", HELPERS)
    assert outcomes(loop.wait_runs(3)) == {seeded: "PASSED"}

    loop.save("app/helpers.py", HELPERS.replace("return 1", "return 2"))
    assert outcomes(loop.wait_runs(4)) == {unit: "FAILED", again: "FAILED"}

    # Back, and the fixture's teardown breaks: the failed case and the test
    # whose teardown runs the changed code.
    loop.save("app/helpers.py", HELPERS.replace('log.append("closed")', "log.missing()"))
    fifth = loop.wait_runs(5)
    assert set(outcomes(fifth)) == {seeded, unit, again}
    assert f"ERROR {seeded}" in "\n".join(fifth)
    assert outcomes(fifth)[unit] == outcomes(fifth)[again] == "PASSED"


TAKES_THE_HOOKS = """
import sys

# Another tool (a debugger, coverage) holds the hooks the loop records with.
for tool in (3, 4, 5):
    sys.monitoring.use_tool_id(tool, "another tool")
"""

TRACES = """
import sys

# A tool that traces (coverage, a debugger on 3.11) is on for the whole session.
sys.settrace(lambda frame, event, arg: None)
"""


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.11 records with probes in the code")
def test_a_trace_function_leaves_the_selection_as_it_is(loop_of) -> None:
    loop = loop_of(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "tests/conftest.py": TRACES,
            "tests/test_cart.py": TESTS,
        }
    )
    assert len(outcomes(loop.wait_runs(1))) == 3
    assert "cannot record" not in loop.output
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    assert outcomes(loop.wait_runs(2)) == {"tests/test_cart.py::test_count": "FAILED"}


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring's tool ids are 3.12's")
def test_without_the_recording_hooks_each_save_runs_every_test(loop_of) -> None:
    loop = loop_of(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "tests/conftest.py": TAKES_THE_HOOKS,
            "tests/test_cart.py": TESTS,
        }
    )
    assert len(outcomes(loop.wait_runs(1))) == 3
    assert "cannot record which code each test runs" in loop.output
    assert "each save runs every test" in loop.output
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    second = outcomes(loop.wait_runs(2))
    assert second == {
        "tests/test_cart.py::test_total": "PASSED",
        "tests/test_cart.py::test_count": "FAILED",
        "tests/test_cart.py::test_plain": "PASSED",
    }


ASYNC_TESTS = """
import pytest

from app import cart


@pytest.mark.asyncio
async def test_async_total():
    assert cart.total([1]) == 2


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert cart.count([0] * n) == n


@pytest.mark.slow
def test_marked():
    assert cart.total([]) == 0
"""


def test_flags_asyncio_and_parametrized_tests(loop_of) -> None:
    loop = loop_of(
        {"app/__init__.py": "", "app/cart.py": CART, "tests/test_a.py": ASYNC_TESTS},
        "-x",
        "-k",
        "not marked",
        "-o",
        "markers=slow",
    )
    first = outcomes(loop.wait_runs(1))
    assert set(first) == {
        "tests/test_a.py::test_async_total",
        "tests/test_a.py::test_param[1]",
        "tests/test_a.py::test_param[2]",
        "tests/test_a.py::test_param[3]",
    }
    loop.save("app/cart.py", CART.replace("return len(items)", "return len(items) + 1"))
    second = loop.wait_runs(2)
    # -x: the first failure stops the run.
    assert outcomes(second) == {"tests/test_a.py::test_param[1]": "FAILED"}
    assert "stopping after 1 failures" in "\n".join(second)
    loop.save("app/cart.py", CART.replace("RATE = 2", "RATE = 5"))
    third = outcomes(loop.wait_runs(3))
    assert third["tests/test_a.py::test_async_total"] == "FAILED"
    assert "tests/test_a.py::test_marked" not in third  # -k still applies


def test_python_m_hotfunc_test_is_the_same_loop(loop_of) -> None:
    loop = loop_of(
        {"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": TESTS},
        "-q",
        command=(sys.executable, "-m", "hotfunc", "test"),
    )
    assert len(outcomes(loop.wait_runs(1))) == 3
    loop.save("app/cart.py", CART.replace("* RATE", "* RATE * 1"))
    assert outcomes(loop.wait_runs(2)) == {"tests/test_cart.py::test_total": "PASSED"}
    # No warning of hotfunc's own, such as pytest's that it cannot rewrite the
    # asserts of a plugin imported before it.
    assert "Warning" not in loop.output
    assert not [line for line in loop.output.splitlines() if " warning" in line]


class TerminalLoop:
    """The loop on a pseudo-terminal of its own, as a developer starts it."""

    def __init__(self, root: Path, *args: str) -> None:
        import pty

        command = [sys.executable, "-m", "pytest", "--hot", "-p", "no:cacheprovider", "--color=no"]
        command += args
        env = _env()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            os.chdir(root)
            os.execve(sys.executable, command, env)
        self.chunks: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self.chunks).replace("\r\n", "\n")

    def summaries(self) -> list[str]:
        return re.findall(r"=+ ([^=\n]* in [\d.]+s) =+", self.output)

    def press(self, key: str) -> None:
        os.write(self.fd, key.encode())

    def exit_code(self, timeout: float = 20) -> int:
        status: list[int] = []

        def ended() -> bool:
            pid, code = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                status.append(code)
            return bool(pid)

        wait_for(ended, timeout)
        return os.waitstatus_to_exitcode(status[0])

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.fd)


@pytest.fixture
def terminal_loop(tmp_path: Path):
    started: list[TerminalLoop] = []

    def start(files: dict[str, str], *args: str) -> TerminalLoop:
        loop = TerminalLoop(project(tmp_path, files), *args)
        started.append(loop)
        return loop

    yield start
    for loop in started:
        loop.close()


def test_keys_run_the_failed_tests_all_tests_and_quit(terminal_loop) -> None:
    tests = TESTS.replace("assert 1 + 1 == 2", "assert 1 + 1 == 3")
    loop = terminal_loop({"app/__init__.py": "", "app/cart.py": CART, "tests/test_cart.py": tests})
    wait_for(lambda: "Enter runs the failed tests again" in loop.output, timeout=30)
    assert loop.summaries() == [loop.summaries()[0]] and "1 failed, 2 passed" in loop.summaries()[0]
    loop.press("\n")
    wait_for(lambda: len(loop.summaries()) == 2, timeout=20)
    assert loop.summaries()[1].startswith("1 failed in")
    loop.press("a")
    wait_for(lambda: len(loop.summaries()) == 3, timeout=20)
    assert loop.summaries()[2].startswith("1 failed, 2 passed in")
    loop.press("q")
    assert loop.exit_code() == 1, loop.output[-3000:]  # a test fails, as pytest says
    assert "Traceback" not in loop.output


def test_ctrl_c_quits_cleanly_and_tears_the_fixtures_down(terminal_loop) -> None:
    conftest = """
    import pytest


    @pytest.fixture(scope="session")
    def db():
        yield 1
        print("db torn down")
    """
    loop = terminal_loop(
        {
            "app/__init__.py": "",
            "app/cart.py": CART,
            "tests/conftest.py": conftest,
            "tests/test_cart.py": TESTS.replace("def test_plain():", "def test_plain(db):"),
        },
        "-s",
    )
    wait_for(lambda: "watching for saves" in loop.output, timeout=30)
    loop.press("\x03")
    assert loop.exit_code() == 0
    assert "db torn down" in loop.output
    assert "Traceback" not in loop.output and "KeyboardInterrupt" not in loop.output
