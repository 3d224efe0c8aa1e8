"""The 3.11 recorder's probes: copies of code that note their start and otherwise run as before."""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from pathlib import Path
from types import CodeType, FunctionType, ModuleType

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="the probes are the recorder of 3.11 only"
)

SOURCE = """
import functools


def leaf(x, y=1):
    return x + y


def tricky(n):
    total = 0
    for i in range(n):
        try:
            if i % 7 == 0:
                raise ValueError(i)
            total += leaf(i)
        except ValueError:
            total -= 1
        finally:
            total += 0
    add = lambda z: z + total
    return total + sum(add(j) for j in range(3)) + sum([leaf(k) for k in range(3)])


def counter(n):
    for i in range(n):
        yield leaf(i)


async def later(x):
    await asyncio.sleep(0)
    return leaf(x)


def maker(k):
    def inner(x):
        return x * k
    return inner


def raises():
    x = 1
    raise KeyError(x)


def many():
    return [CONSTANTS]


class Shape:
    @staticmethod
    def side():
        return leaf(2)

    @property
    def area(self):
        return leaf(3)


def _decorate(func):
    @functools.wraps(func)
    def wrapper(*args):
        return func(*args)
    return wrapper


@_decorate
def wrapped(x):
    return leaf(x)
"""


@pytest.fixture
def probed(tmp_path: Path):
    from hotfunc.testloop._probes import Probes

    # Over 256 constants: the probe's own constants need EXTENDED_ARG.
    constants = ", ".join(f"'c{i}'" for i in range(300))
    path = tmp_path / "probed_module.py"
    path.write_text(SOURCE.replace("[CONSTANTS]", f"[{constants}]"))
    module = ModuleType("probed_module")
    module.__file__ = str(path)
    module.asyncio = asyncio  # type: ignore[attr-defined]
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    before = {
        name: value.__code__
        for name, value in vars(module).items()
        if isinstance(value, FunctionType)
    }
    probes = Probes(lambda filename: filename == str(path))
    probes.on()
    probes.walk(module)
    yield module, probes, before
    probes.off()


def ran(probes) -> set[str]:
    return {code.co_qualname for code in probes.take()}


def test_probed_code_runs_as_before_and_notes_its_start(probed) -> None:
    module, probes, before = probed
    assert module.leaf.__code__ is not before["leaf"]
    probes.clear()
    assert module.tricky(50) == 4261
    assert ran(probes) == {
        "tricky",
        "leaf",
        "tricky.<locals>.<lambda>",
        "tricky.<locals>.<genexpr>",
        "tricky.<locals>.<listcomp>",
    }
    assert list(module.counter(3)) == [1, 2, 3]
    assert asyncio.run(module.later(4)) == 5
    assert module.maker(3)(2) == 6
    assert len(module.many()) == 300
    assert ran(probes) == {
        "counter",
        "leaf",
        "later",
        "maker",
        "maker.<locals>.inner",
        "many",
    }
    assert ran(probes) == set()


def test_functions_a_module_holds_in_classes_and_wrappers_are_probed(probed) -> None:
    module, probes, _ = probed
    probes.clear()
    assert module.Shape.side() == 3
    assert module.Shape().area == 4
    assert module.wrapped(1) == 2
    wrapper = "_decorate.<locals>.wrapper"
    assert ran(probes) == {"Shape.side", "Shape.area", wrapper, "wrapped", "leaf"}


def test_tracebacks_give_the_lines_of_the_source(probed) -> None:
    module, _, _ = probed
    with pytest.raises(KeyError) as raised:
        module.raises()
    last = traceback.extract_tb(raised.value.__traceback__)[-1]
    line = SOURCE.splitlines().index("    raise KeyError(x)") + 1
    assert (last.lineno, last.line) == (line, "raise KeyError(x)")


def test_another_thread_notes_in_its_own_record(probed) -> None:
    module, probes, _ = probed
    probes.clear()
    thread = threading.Thread(target=module.maker, args=(1,))
    thread.start()
    thread.join()
    module.leaf(1)
    assert ran(probes) == {"leaf"}


def test_off_gives_back_the_code_and_on_probes_the_code_a_save_left(probed) -> None:
    module, probes, before = probed
    probes.off()
    assert module.leaf.__code__ is before["leaf"]
    assert module.tricky.__code__ is before["tricky"]
    # The engine swaps a function's code while the probes are off.
    saved = compile("def leaf(x, y=1):\n    return x - y\n", module.__file__, "exec")
    module.leaf.__code__ = next(c for c in saved.co_consts if isinstance(c, CodeType))
    probes.on()
    probes.clear()
    assert module.leaf(5) == 4
    assert ran(probes) == {"leaf"}
