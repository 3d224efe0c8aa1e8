"""The hot loop against a fresh pytest run, over random sequences of edits.

A small package and its tests are rendered from a model; each step makes one
random edit (a function's body, a helper added or used, a constant, a test
added, broken, fixed or removed, a fixture's value) and saves the one file it
touches.  After the loop has handled the save, a fresh ``pytest`` run on the
same files must give every test the loop reported the same outcome, and every
test the loop did not run the outcome it had at its last run.

``HOTFUNC_FUZZ_EXAMPLES`` sets how many sequences run (CI runs a few).
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_testloop import Loop, _env, outcomes, project

from hotfunc.testing import wait_for

SEQUENCES = max(2, int(os.environ.get("HOTFUNC_FUZZ_EXAMPLES", "0")) // 100)
STEPS = 12


@dataclass
class Case:
    name: str
    kind: str  # "f": core.f(arg); "val": the val fixture; "base": core.f(base fixture)
    f: int
    arg: int
    broken: bool = False


@dataclass
class Model:
    k: int = 2
    helpers: list[int] = field(default_factory=lambda: [1, 2])
    uses: list[int | None] = field(default_factory=lambda: [0, None, 1])
    consts: list[int] = field(default_factory=lambda: [0, 5, 7])
    val: int = 10
    base: int = 3
    tests: dict[str, list[Case]] = field(default_factory=dict)
    counter: int = 0

    def f(self, i: int, x: int) -> int:
        j = self.uses[i]
        inner = x if j is None else x + self.helpers[j]
        return inner * self.k + self.consts[i]

    def expected(self, test: Case) -> int:
        if test.kind == "val":
            right = self.val
        elif test.kind == "base":
            right = self.f(test.f, self.base)
        else:
            right = self.f(test.f, test.arg)
        return right + 1 if test.broken else right

    def new_test(self, rng: random.Random) -> Case:
        self.counter += 1
        kind = rng.choice(["f", "f", "val", "base"])
        return Case(f"test_{kind}_{self.counter}", kind, rng.randrange(3), rng.randrange(5))

    def util(self) -> str:
        lines = [f"K = {self.k}", ""]
        for j, h in enumerate(self.helpers):
            lines += ["", f"def helper_{j}(x):", f"    return x + {h}", ""]
        return "\n".join(lines)

    def core(self) -> str:
        lines = ["from pkg import util", ""]
        for i, (j, c) in enumerate(zip(self.uses, self.consts, strict=True)):
            inner = "x" if j is None else f"util.helper_{j}(x)"
            lines += ["", f"def f{i}(x):", f"    return {inner} * util.K + {c}", ""]
        return "\n".join(lines)

    def conftest(self) -> str:
        return (
            "import pytest\n\n\n@pytest.fixture\ndef val():\n"
            f"    return {self.val}\n\n\n"
            '@pytest.fixture(scope="session")\ndef base():\n'
            f"    return {self.base}\n"
        )

    def test_module(self, module: str) -> str:
        lines = ["from pkg import core", ""]
        for test in self.tests[module]:
            expected = self.expected(test)
            if test.kind == "val":
                lines += ["", f"def {test.name}(val):", f"    assert val == {expected}", ""]
            elif test.kind == "base":
                call = f"core.f{test.f}(base)"
                lines += ["", f"def {test.name}(base):", f"    assert {call} == {expected}", ""]
            else:
                call = f"core.f{test.f}({test.arg})"
                lines += ["", f"def {test.name}():", f"    assert {call} == {expected}", ""]
        return "\n".join(lines)

    def files(self) -> dict[str, str]:
        files = {
            "pkg/__init__.py": "",
            "pkg/util.py": self.util(),
            "pkg/core.py": self.core(),
            "tests/conftest.py": self.conftest(),
        }
        for module in self.tests:
            files[f"tests/{module}.py"] = self.test_module(module)
        return files


def edit(model: Model, rng: random.Random) -> str:
    """Make one random edit; return the file it touches."""
    kind = rng.choice(
        ["body", "helper", "new_helper", "use", "const", "add", "toggle", "remove", "fixture"]
    )
    if kind == "body":
        i = rng.randrange(3)
        model.consts[i] += rng.choice([-1, 1, 2])
        return "pkg/core.py"
    if kind == "helper":
        j = rng.randrange(len(model.helpers))
        model.helpers[j] += 1
        return "pkg/util.py"
    if kind == "new_helper":
        model.helpers.append(rng.randrange(9))
        return "pkg/util.py"
    if kind == "use":
        model.uses[rng.randrange(3)] = rng.choice([None, *range(len(model.helpers))])
        return "pkg/core.py"
    if kind == "const":
        model.k = rng.choice([k for k in range(1, 5) if k != model.k])
        return "pkg/util.py"
    if kind == "fixture":
        if rng.random() < 0.5:
            model.val += 1
        else:
            model.base += 1
        return "tests/conftest.py"
    module = rng.choice(sorted(model.tests))
    tests = model.tests[module]
    if kind == "add" or not tests:
        tests.append(model.new_test(rng))
    elif kind == "toggle":
        test = rng.choice(tests)
        test.broken = not test.broken
    else:
        tests.remove(rng.choice(tests))
    return f"tests/{module}.py"


def fresh_outcomes(root: Path) -> dict[str, str]:
    # The project needs no plugin: the fresh run loads none, and starts sooner.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q"],
        cwd=root,
        env={**_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return outcomes(result.stdout.splitlines())


SUMMARY = re.compile(r"^=+ .* in [\d.]+s")
HANDLED = re.compile(r"^hotfunc: .* → (no test to run|\d+ tests?)")


@pytest.mark.parametrize("seed", range(SEQUENCES))
def test_the_loop_agrees_with_a_fresh_run(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    model = Model()
    model.tests = {"test_a": [model.new_test(rng) for _ in range(4)], "test_b": []}
    model.tests["test_b"] = [model.new_test(rng) for _ in range(3)]
    loop = Loop(project(tmp_path, model.files()))
    try:
        known = outcomes(loop.wait_runs(1))
        assert known == fresh_outcomes(tmp_path)
        steps: list[str] = []
        for _ in range(STEPS):
            before = model.files()
            name = edit(model, rng)
            text = model.files().get(name)
            if text is None or text == before.get(name):
                continue
            steps.append(name)
            mark = len(loop.lines)
            loop.save(name, text)
            wait_for(lambda m=mark: any(HANDLED.match(x) for x in loop.lines[m:]), timeout=30)
            handled = next(i for i, x in enumerate(loop.lines) if i >= mark and HANDLED.match(x))
            reported: dict[str, str] = {}
            if "no test to run" not in loop.lines[handled]:
                wait_for(
                    lambda h=handled: any(SUMMARY.match(x) for x in loop.lines[h:]), timeout=30
                )
                reported = outcomes(loop.lines[handled:])
            fresh = fresh_outcomes(tmp_path)
            context = f"seed {seed}, steps {steps}:\n" + "\n".join(loop.lines[mark:])
            for nodeid, outcome in reported.items():
                assert fresh.get(nodeid) == outcome, f"{nodeid} {outcome}; {context}"
            known.update(reported)
            known = {n: o for n, o in known.items() if n in fresh}
            assert known == fresh, context
    finally:
        loop.stop()
