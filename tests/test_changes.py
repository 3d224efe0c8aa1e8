"""What the test loop takes a save to have changed: the names and functions it picks tests by."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hotfunc.testloop._changes import Snapshot, compare, key_name, reads


def changed(old: str, new: str) -> tuple[set[str], set[str]]:
    change = compare(textwrap.dedent(old), Snapshot(textwrap.dedent(new), "m.py"), "m.py")
    return change.qualnames, change.names


SHOUT = """
SUFFIX = "!"

def shout(words):
    return [w + SUFFIX for w in words if {k: v for k, v in [(w, 1)]}]
"""


def test_an_edit_inside_a_comprehension_changes_its_function_on_every_python() -> None:
    assert changed(SHOUT, SHOUT.replace("w + SUFFIX", "w.upper() + SUFFIX")) == ({"shout"}, set())
    assert changed(SHOUT, SHOUT.replace("(w, 1)", "(w, 2)")) == ({"shout"}, set())


def test_a_function_reads_what_its_comprehensions_read() -> None:
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(SHOUT), "m.py", "exec"), namespace)
    assert "SUFFIX" in reads(namespace["shout"].__code__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("qualname", "before_312"),
    [
        ("f", "f"),
        ("f.<locals>.<listcomp>", "f"),
        ("f.<locals>.<listcomp>.<locals>.<lambda>", "f.<locals>.<lambda>"),
        ("C.<dictcomp>", "C"),
        ("<setcomp>", "<module>"),
        ("f.<locals>.<genexpr>", "f.<locals>.<genexpr>"),
    ],
)
def test_comprehension_scopes_leave_the_key_as_3_12_names_it(
    qualname: str, before_312: str
) -> None:
    assert key_name(qualname) == (before_312 if sys.version_info < (3, 12) else qualname)


@pytest.mark.parametrize(
    ("new", "names"),
    [
        (
            "if sys.version_info >= (3, 7):\n    P = re.Pattern\nelse:\n    P = typing.Pattern\n",
            {"P"},
        ),
        ("try:\n    import fast as impl\nexcept ImportError:\n    impl = None\n", {"impl"}),
        ("with open(PATH) as f:\n    DATA = [line for line in f]\n", {"f", "DATA"}),
        ("if DEBUG:\n    def trace(x):\n        y = x\n        return y\n", {"trace"}),
        # Binds nothing: every name it mentions.
        ("if DEBUG:\n    register(handler)\n", {"DEBUG", "register", "handler"}),
    ],
)
def test_a_compound_statement_changes_the_names_it_binds(new: str, names: set[str]) -> None:
    assert changed("", new)[1] == names


CLASSES = """
class A:
    def f(self):
        return 1


class B:
    x = 3

    def g(self):
        return 2
"""


def test_a_class_below_an_edit_is_unchanged_on_every_python() -> None:
    # 3.13 stores each class's first line in its body's code.
    moved = CLASSES.replace("        return 1\n", "        y = 1\n        return y\n")
    assert changed(CLASSES, moved) == ({"A.f"}, set())
    # A class attribute still counts, whatever line it sits on.
    assert changed(CLASSES, moved.replace("x = 3", "x = 4")) == ({"A.f", "B"}, {"x"})
