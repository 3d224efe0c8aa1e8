"""The test loop: from a save to pytest's summary line, against tools that restart pytest.

    python bench/testloop.py           # 500 tests, 50,000 lines, 20 saves
    python bench/testloop.py --quick   # the same project, fewer saves and runs

A project is generated in a temporary folder: a package of 50 modules (about
55,000 lines) and 500 tests in 50 files, whose conftest.py imports the whole
package, as an application's test suite does.  Bytecode is not cached, so
pytest's start-up and collection take about 2 s, the time printed first.
Each save changes one function that one fast test runs.

Measured in one run, each tool on the same project and the same saves:

- ``pytest --hot`` (hotfunc): from the write to the summary line of the run;
- pytest-watcher (``ptw``): it restarts pytest, which runs every test;
- pytest-watcher running ``pytest --testmon``: a restart, and testmon's
  selection from its coverage data;

and the cost of recording what each test runs: the time from the end of the
collection to the summary of the first run, with ``--hot`` and without,
interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODULES = 50
FUNCTIONS = 100  # per module: 11 lines each
TEST_FILES = 50
TESTS_PER_FILE = 10

FUNCTION = """
def func_{f}(x, y=1):
    total = 0
    for i in range(x):
        if i % 3 == 0:
            total += i * y
        elif i % 3 == 1:
            total -= y
        else:
            total ^= i
    return total + {plus}
"""

CONFTEST = """
import importlib
import time

for _i in range({modules}):
    importlib.import_module(f"big.mod{{_i}}")

_collected = None
_reported = False


def pytest_collection_finish(session):
    global _collected
    _collected = time.perf_counter()


def pytest_terminal_summary(terminalreporter):
    global _reported
    if not _reported and _collected is not None:
        _reported = True
        print(f"BENCH run phase {{time.perf_counter() - _collected:.6f}}")
"""

TEST = """
from big import mod{m}


def test_{t}():
    assert mod{m}.func_{f}({x}) == {expected}
"""

SUMMARY = re.compile(r"\b\d+ (?:passed|failed|error)[^\n]* in [\d.]+s")
RUN_PHASE = re.compile(r"BENCH run phase ([\d.]+)")


def _module(m: int, plus: int = 0) -> str:
    return "".join(
        FUNCTION.format(f=f, plus=plus + f if (m, f) == (0, 0) else f) for f in range(FUNCTIONS)
    )


def _func(x: int, plus: int) -> int:
    total = 0
    for i in range(x):
        if i % 3 == 0:
            total += i
        elif i % 3 == 1:
            total -= 1
        else:
            total ^= i
    return total + plus


def generate(root: Path) -> None:
    (root / "big").mkdir()
    (root / "big" / "__init__.py").write_text("")
    for m in range(MODULES):
        (root / "big" / f"mod{m}.py").write_text(_module(m))
    (root / "tests").mkdir()
    (root / "tests" / "conftest.py").write_text(CONFTEST.format(modules=MODULES))
    for m in range(TEST_FILES):
        parts = []
        for t in range(TESTS_PER_FILE):
            f = t * (FUNCTIONS // TESTS_PER_FILE)
            x = 10 + t
            parts.append(TEST.format(m=m, t=t, f=f, x=x, expected=_func(x, f)))
        (root / "tests" / f"test_mod{m}.py").write_text("".join(parts))
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n'
    )


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTFUNC_", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # every start compiles, as after a checkout
    return env


class Process:
    """A command on the project, each line of its output timestamped as it arrives."""

    def __init__(self, root: Path, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=root,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.perf_counter(), line))

    def summaries(self) -> list[float]:
        return [at for at, line in list(self.lines) if SUMMARY.search(line)]

    def wait(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.process.poll() is not None:
                tail = "".join(line for _, line in self.lines[-30:])
                msg = f"{self.process.args} did not get there:\n{tail}"
                raise RuntimeError(msg)
            time.sleep(0.001)

    def idle(self) -> bool:
        """No child process: a restarting tool's run has ended, not just printed its summary.

        pytest-watcher drops a save that lands while its pytest is still
        shutting down, so each save waits for this, as a developer's save
        finds the tool idle.
        """
        try:
            import psutil
        except ImportError:
            time.sleep(2.0)
            return True
        try:
            return not psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return True

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _save(root: Path, n: int) -> float:
    """Change big/mod0.py's func_0, which test_mod0.py::test_0 alone runs; the write's time.

    The file is written in place, the save every tool here sees.
    """
    text = _module(0, plus=n % 2)
    at = time.perf_counter()
    (root / "big" / "mod0.py").write_text(text)
    return at


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def latency(root: Path, what: str, command: list[str], ready: str, saves: int) -> dict[str, Any]:
    """Save → summary line, ``saves`` times, once ``ready`` was printed."""
    _save(root, 0)  # every tool starts from the same text
    process = Process(root, command)
    try:
        process.wait(lambda: any(ready in line for _, line in process.lines), 60)
        process.wait(process.idle, 60)
        time.sleep(1.0)  # the tools' own start-up work settles
        times = []
        for n in range(1, saves + 1):
            seen = len(process.summaries())
            written = _save(root, n)
            process.wait(lambda s=seen: len(process.summaries()) > s, 60)
            times.append(process.summaries()[seen] - written)
            process.wait(process.idle, 60)
            time.sleep(0.3)  # apart, as a developer's saves are
    finally:
        process.stop()
    p50, p95 = _percentiles(times)
    return {"what": what, "saves": saves, "p50_s": p50, "p95_s": p95}


def _run_phase(root: Path, command: list[str]) -> float:
    """Seconds from the end of the collection to the first summary."""
    process = Process(root, command)
    try:
        process.wait(lambda: any(RUN_PHASE.search(line) for _, line in process.lines), 60)
    finally:
        process.stop()
    match = next(m for _, line in process.lines if (m := RUN_PHASE.search(line)))
    return float(match.group(1))


def recording(root: Path, runs: int) -> dict[str, Any]:
    """The first run of the 500 tests with ``--hot`` against plain pytest, interleaved."""
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    plain: list[float] = []
    hot: list[float] = []
    for _ in range(runs):
        plain.append(_run_phase(root, base))
        hot.append(_run_phase(root, [*base, "--hot"]))
    return {
        "what": "first run, recording",
        "plain_s": statistics.median(plain),
        "hot_s": statistics.median(hot),
        "overhead": statistics.median(hot) / statistics.median(plain) - 1,
    }


def startup(root: Path) -> float:
    """Seconds to start pytest and collect the project, without running a test."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
        cwd=root,
        env=_env(),
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    saves = 5 if options.quick else 20
    restarts = 2 if options.quick else 5
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    results: list[dict[str, Any]] = []
    try:
        generate(folder)
        start = startup(folder)
        print(f"pytest start-up and collection: {start:.2f} s")
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        results.append({"what": "start-up and collection", "seconds": start})
        results.append(
            latency(folder, "pytest --hot (hotfunc)", [*pytest_cmd, "--hot"], "watching", saves)
        )
        ptw = shutil.which("ptw", path=os.path.dirname(sys.executable))
        if ptw is None:
            print("pytest-watcher is not installed here: its rows are skipped")
        else:
            runner = os.path.join(os.path.dirname(sys.executable), "pytest")
            # With watchdog 7 a pattern must match the whole path: pytest-watcher's
            # default, ``*.py``, sees only the files at the top of the project.
            ptw_cmd = [
                ptw,
                "--now",
                "--delay",
                "0",
                "--patterns",
                "**/*.py",
                "--runner",
                runner,
                ".",
            ]
            results.append(
                latency(folder, "pytest-watcher (restart)", [*ptw_cmd, "-q"], "passed", restarts)
            )
            try:
                import testmon  # noqa: F401

                results.append(
                    latency(
                        folder,
                        "pytest-watcher + testmon",
                        [*ptw_cmd, "--testmon", "-q"],  # testmon needs the cache plugin
                        "passed",
                        restarts,
                    )
                )
            except ImportError:
                print("pytest-testmon is not installed here: its row is skipped")
        results.append(recording(folder, 2 if options.quick else 5))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    hot = results[1]
    print(f"{'tool':<28} {'p50':>9} {'p95':>9} {'p50 vs hotfunc':>15}")
    for result in results[1:-1]:
        print(
            f"{result['what']:<28} {result['p50_s'] * 1e3:>7.0f}ms {result['p95_s'] * 1e3:>7.0f}ms "
            f"{result['p50_s'] / hot['p50_s']:>14.0f}x"
        )
    rec = results[-1]
    print(
        f"first run of the 500 tests: {rec['plain_s'] * 1e3:.0f} ms plain, "
        f"{rec['hot_s'] * 1e3:.0f} ms with --hot: {rec['overhead']:+.0%} "
        f"(Python {sys.version_info[0]}.{sys.version_info[1]})"
    )
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
