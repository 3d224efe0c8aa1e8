"""The test loop on a real suite: released versions of a library replayed into ``pytest --hot``.

    python bench/realsuite.py                          # pyparsing, this Python
    python bench/realsuite.py --python .venv/bin/python --python /tmp/v313/bin/python
    python bench/realsuite.py --project click          # a src layout, warnings as errors

The source distribution of each release (``pip download --no-binary :all:``)
ships the library and its own test suite.  pyparsing's (1,700 tests, and
its examples) spends its time in the library's parsing loops, the case that
makes recording costly.  For each interpreter given:

1. The first release is unpacked in a temporary folder.  Plain ``pytest``
   and ``pytest --hot`` run its suite, interleaved: each time is from the
   start of the process to the summary line of the first run.
2. The last ``--hot`` process stays up.  Each later release is written over
   the folder at once, as a checkout does, and the loop's runs are timed
   from the write to the last summary line.  The tests the loop ran are run
   again in a fresh ``pytest`` (the fresh run of the tests it re-runs), and
   the whole suite in a fresh ``pytest``: every test's outcome in the loop,
   carried over or run again, must be the fresh run's.

The table gives, per interpreter, the first run against plain pytest and
each save against the fresh run of its tests.  With more than one
interpreter, the selections of each save are compared, leaving out the
tests that failed before it on any of them (the loop runs those again on
every save, and an outcome may depend on the Python).  Exits 1 when an
outcome differs from the fresh run or the selections differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from fidelity import download
from testloop import SUMMARY, Process


class Run(Process):
    """A pytest process whose summary lines are noted as they arrive (a suite prints many
    lines, and a poll must not scan them all), its output copied to ``log``."""

    def __init__(self, root: Path, command: list[str], log: Path | None = None) -> None:
        self.ends: list[float] = []
        self.log = log.open("a") if log is not None else None
        super().__init__(root, command)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            at = time.perf_counter()
            self.lines.append((at, line))
            if self.log is not None:
                self.log.write(line)
                self.log.flush()
            if SUMMARY.search(line):
                self.ends.append(at)

    def summaries(self) -> list[float]:
        return list(self.ends)

    def wait(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline or self.process.poll() is not None:
                tail = "".join(line for _, line in self.lines[-30:])
                raise RuntimeError(f"{self.process.args[:8]} did not get there:\n{tail}")
            time.sleep(0.02)


@dataclasses.dataclass(frozen=True)
class Suite:
    """A project whose sdists ship its tests, and the releases to replay."""

    releases: tuple[str, ...]
    #: pytest's options for this suite, after the bench's own.
    args: tuple[str, ...] = ()
    tests: tuple[str, ...] = ("tests",)


SUITES = {
    # The diagram tests need a package (railroad-diagrams) the dev install has not.
    "pyparsing": Suite(("3.1.2", "3.1.3", "3.1.4", "3.2.0"), ("--ignore=tests/test_diagram.py",)),
    # A src layout, whose tests turn every warning into an error.
    # pytest-asyncio (of the dev install) warns at its start, which that makes an error.
    "click": Suite(
        ("8.1.3", "8.1.4", "8.1.5", "8.1.6", "8.1.7"),
        ("-o", "pythonpath=src", "-p", "no:asyncio"),
    ),
}
# A test file that cannot be collected (pyparsing 3.2.0's matplotlib cases)
# must not stop the fresh runs that judge the loop: its error is an outcome
# like any other.
ARGS = ["-p", "no:cacheprovider", "-rA", "--continue-on-collection-errors"]
# A test's id may hold spaces (parametrized); a failure's line ends with " - why".
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+\.py(?:::.+?)?)(?: - .*)?$")
QUIET = 5.0  # seconds without a new summary after a save's runs: the loop is idle


def unpack(sdist: Path) -> dict[str, bytes]:
    """The files of ``sdist``, by their path below its top folder."""
    files: dict[str, bytes] = {}
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if member.isfile() and len(parts) > 1:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    files[str(Path(*parts[1:]))] = extracted.read()
    return files


def checkout(root: Path, files: dict[str, bytes], before: dict[str, bytes]) -> None:
    """Write ``files`` over ``root`` as a checkout does: changed and new files, then deletions."""
    for name, data in files.items():
        if before.get(name) != data:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for name in before.keys() - files.keys():
        (root / name).unlink(missing_ok=True)


def outcomes(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        match = OUTCOME.match(line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def fresh(python: str, root: Path, suite: Suite, extra: list[str]) -> tuple[float, dict[str, str]]:
    """A fresh pytest: seconds from its start to its summary, and its outcomes."""
    process = Run(root, [python, "-m", "pytest", *ARGS, *suite.args, *(extra or suite.tests)])
    started = time.perf_counter()
    try:
        process.wait(lambda: bool(process.summaries()), 900)
        ended = process.summaries()[0]
        process.process.wait(60)
    finally:
        process.stop()
    return ended - started, outcomes([line.rstrip("\n") for _, line in process.lines])


def first_run(python: str, root: Path, suite: Suite, log: Path) -> tuple[float, Run]:
    """``pytest --hot``: seconds to its first summary, and the loop, still up."""
    command = [python, "-m", "pytest", *ARGS, *suite.args, *suite.tests, "--hot"]
    process = Run(root, command, log)
    started = time.perf_counter()
    process.wait(lambda: bool(process.summaries()), 900)
    return process.summaries()[0] - started, process


def after_save(process: Run, written: float) -> tuple[float, list[str]]:
    """Seconds from the write to the loop's last summary, and the lines of its runs.

    A checkout may reach the loop as several batches: after a summary, a
    batch that began (a ``hotfunc:`` line after it) is waited for too.
    """
    seen = len(process.lines)
    count = len(process.summaries())
    while True:
        process.wait(lambda c=count: len(process.summaries()) > c, 900)
        count = len(process.summaries())
        last = process.summaries()[-1]
        while time.perf_counter() - last < QUIET:
            time.sleep(0.2)
        after = [line for at, line in process.lines if at > last]
        if not any(line.startswith("hotfunc: ") and "watching" not in line for line in after):
            break
    return last - written, [line.rstrip("\n") for _, line in process.lines[seen:]]


def replay(python: str, project: str, rounds: int) -> dict[str, Any]:
    suite = SUITES[project]
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    sdists = [download(project, release) for release in suite.releases]
    if any(sdist is None for sdist in sdists):
        raise SystemExit(f"{project}: a release has no sdist on the index")
    trees = [unpack(sdist) for sdist in sdists if sdist is not None]
    root = Path(tempfile.mkdtemp(prefix="hotfunc-realsuite-"))
    result: dict[str, Any] = {"python": version, "project": project, "saves": []}
    try:
        checkout(root, trees[0], {})
        plain: list[float] = []
        hot: list[float] = []
        loop: Run | None = None
        log = Path(tempfile.gettempdir()) / f"hotfunc-realsuite-{project}-{version}.log"
        log.unlink(missing_ok=True)
        for n in range(rounds):
            plain.append(fresh(python, root, suite, [])[0])
            seconds, process = first_run(python, root, suite, log)
            hot.append(seconds)
            if n < rounds - 1:
                process.stop()
            else:
                loop = process
        assert loop is not None
        result["first"] = {"plain_s": statistics.median(plain), "hot_s": statistics.median(hot)}
        print(
            f"{version}: first run {result['first']['hot_s']:.1f} s, "
            f"plain pytest {result['first']['plain_s']:.1f} s"
        )
        state = outcomes([line.rstrip("\n") for _, line in loop.lines])
        try:
            for before, release, files in zip(trees, suite.releases[1:], trees[1:], strict=False):
                written = time.perf_counter()
                checkout(root, files, before)
                seconds, lines = after_save(loop, written)
                ran = outcomes(lines)
                failing = sorted(t for t, o in state.items() if o in ("FAILED", "ERROR"))
                state.update(ran)
                selected = sorted(ran)
                rerun_s = fresh(python, root, suite, selected)[0] if selected else 0.0
                _, whole = fresh(python, root, suite, [])
                differ = sorted(
                    f"{t}: loop {state.get(t)}, fresh {whole[t]}"
                    for t in whole
                    if state.get(t) != whole[t]
                )
                for gone in set(state) - set(whole):
                    del state[gone]
                save = {
                    "release": release,
                    "tests": len(selected),
                    "selected": selected,
                    # The loop runs these again on every save, on top of its selection.
                    "failing_before": failing,
                    "loop_s": seconds,
                    "fresh_s": rerun_s,
                    "differ": differ,
                }
                result["saves"].append(save)
                print(
                    f"{version}: {release}: {len(selected)} tests in {seconds:.1f} s, "
                    f"fresh run of them {rerun_s:.1f} s, {len(differ)} outcomes differ"
                )
        finally:
            loop.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| Python | step | tests | hotfunc (s) | fresh pytest (s) | ratio | outcomes differ |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        first = result["first"]
        rows.append(
            f"| {result['python']} | first run, {SUITES[result['project']].releases[0]} | all "
            f"| {first['hot_s']:.1f} "
            f"| {first['plain_s']:.1f} | {first['hot_s'] / first['plain_s']:.2f}x | |"
        )
        for save in result["saves"]:
            ratio = save["loop_s"] / save["fresh_s"] if save["fresh_s"] else float("nan")
            rows.append(
                f"| {result['python']} | save of {save['release']} | {save['tests']} "
                f"| {save['loop_s']:.1f} | {save['fresh_s']:.1f} | {ratio:.2f}x "
                f"| {len(save['differ'])} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", action="append", help="an interpreter with hotfunc and pytest")
    parser.add_argument("--rounds", type=int, default=2, help="first runs of each, interleaved")
    parser.add_argument("--project", choices=sorted(SUITES), default="pyparsing")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    pythons = options.python or [sys.executable]
    results = [
        replay(os.path.abspath(p) if os.sep in p else p, options.project, options.rounds)
        for p in pythons
    ]
    print(table(results))
    failed = any(save["differ"] for result in results for save in result["saves"])
    # A test may fail on one Python and pass on another (a deprecation, a
    # changed message): the tests failing before a save, on any of them, are
    # left out of the comparison of what each save selected.
    failing = [
        set().union(*(r["saves"][n]["failing_before"] for r in results))
        for n in range(len(results[0]["saves"]))
    ]
    selections = {
        tuple(tuple(sorted(set(s["selected"]) - failing[n])) for n, s in enumerate(r["saves"]))
        for r in results
    }
    if len(selections) > 1:
        print("the interpreters selected different tests:")
        for result in results:
            counts = [save["tests"] for save in result["saves"]]
            print(f"  {result['python']}: {counts}")
        failed = True
    if options.json:
        options.json.write_text(json.dumps(results, indent=1) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
