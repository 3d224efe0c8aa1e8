"""The save planner alone: compiled texts in, actions out; no threads, files or modules."""

from __future__ import annotations

import textwrap

import pytest

from hotfunc.engine import _incremental, _plan, _recompile, _statements

BASE = """
import os
LIMIT = 3

def helper():
    return LIMIT

class Cart:
    TAX = 1

    def total(self):
        return 1

    @property
    def size(self):
        return 0

if __name__ == "__main__":
    print("start")
"""


def _plan_of(old_text: str, new_text: str, *, retry: bool = False) -> _plan.Plan:
    old = _recompile.compile_source(textwrap.dedent(old_text), "m.py")
    new = _incremental.update_source(old, textwrap.dedent(new_text), "m.py")
    return _plan.plan(old, new, retry=retry)


def _kinds(plan: _plan.Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.summary) for a in plan.actions]


def test_reformatting_and_comments_plan_nothing():
    """Rule 1: layout, comments and moved lines are not changes.

    A ``def`` whose text differs goes to the engine as an update, which
    compares code and takes a reformatted body as moved (see test_growth).
    """
    new = "# header\n" + BASE.replace("LIMIT = 3", "LIMIT = (3)  # three").replace(
        "    TAX = 1", "    TAX = (1)  # one"
    )
    assert _plan_of(BASE, new).actions == []
    body = _plan_of(BASE, BASE.replace("return LIMIT", "return  LIMIT"))
    assert _kinds(body) == [("update", "helper")]


def test_new_and_changed_statements_in_file_order():
    """Rule 3: an import, a constant and a new helper run; the unchanged ones do not."""
    new = (
        BASE.replace("import os\n", "import os\nimport json\n").replace("LIMIT = 3", "LIMIT = 4")
        + "\ndef extra():\n    return json.dumps(LIMIT)\n"
    )
    assert _kinds(_plan_of(BASE, new)) == [
        ("run", "import json"),
        ("run", "LIMIT = 4"),
        ("define", "extra"),
    ]


def test_body_change_is_an_update_and_decorator_change_a_redefine():
    """Rules 4 and 7: a body edit swaps in place; a decorator edit runs the def again."""
    base = (
        "import functools\n\ndef f():\n    return 1\n\n"
        "@functools.lru_cache(2)\ndef g():\n    return 1\n"
    )
    new = base.replace("return 1", "return 2", 1).replace("lru_cache(2)", "lru_cache(3)")
    assert _kinds(_plan_of(base, new)) == [("update", "f"), ("redefine", "g")]


def test_class_members_are_planned_one_by_one():
    """Rules 6 and 8: new and changed members are listed; a header change rebuilds."""
    new = BASE.replace("    TAX = 1\n", "    TAX = 2\n\n    def count(self):\n        return 2\n")
    new = new.replace("return 1", "return 10")
    (action,) = _plan_of(BASE, new).actions
    assert action.kind == _plan.MEMBERS
    assert [(m.kind, m.name, m.field) for m in action.members] == [
        ("run", "=TAX", True),
        ("define", "count", False),
        ("update", "total", False),
    ]
    rebuilt = _plan_of(BASE, BASE.replace("class Cart:", "class Cart(object):"))
    assert _kinds(rebuilt) == [("rebuild", "Cart")]


def test_unchanged_members_of_a_changed_class_are_known():
    """A method whose def did not change is reported unchanged, even in a changed class."""
    plan = _plan_of(BASE, BASE.replace("TAX = 1", "TAX = 2"))
    assert {"Cart.total", "Cart.size"} <= plan.same_defs


def test_main_block_is_skipped():
    """Rule 9: an edited __main__ block is planned as a skip, never a run."""
    plan = _plan_of(BASE, BASE.replace('print("start")', 'print("again")'))
    assert _kinds(plan) == [("skip", "if __name__ == '__main__':")]


@pytest.mark.parametrize(
    "guard",
    ['if __name__ == "__main__":', "if '__main__' == __name__:"],
)
def test_main_guard_either_way_round(guard):
    """Both spellings of the guard are recognised."""
    node = _recompile.ast.parse(f"{guard}\n    pass\n").body[0]
    assert _statements.is_main_guard(node)


def test_removed_definitions_plan_nothing():
    """Rule 11: a def removed from the file leaves nothing to do."""
    assert _plan_of(BASE, BASE.replace("def helper():\n    return LIMIT\n", "")).actions == []


def test_failed_statement_is_planned_again_until_it_runs():
    """Rule 10: a block whose run failed keeps the live text and is planned at every save."""
    old = _recompile.compile_source(BASE, "m.py")
    new = _incremental.update_source(old, BASE.replace("LIMIT = 3", "LIMIT = 1 / 0"), "m.py")
    (action,) = _plan.plan(old, new, retry=False).actions
    action.block.live = action.previous  # what the applier records when the run fails
    assert action.previous == "LIMIT = 3\n"
    later = _incremental.update_source(new, new.text.replace("return 1", "return 5"), "m.py")
    assert _kinds(_plan.plan(new, later, retry=True)) == [
        ("run", "LIMIT = 1 / 0"),
        ("members", "Cart"),
    ]
    undone = _incremental.update_source(new, BASE, "m.py")
    assert _plan.plan(new, undone, retry=True).actions == []


def test_statement_without_a_name_is_paired_by_place():
    """An expression edited where it stands keeps its old text as what stays live on failure."""
    base = "items = []\nitems.append(1)\nitems.append(2)\n"
    (action,) = _plan_of(base, base.replace("append(1)", "append(9)")).actions
    assert action.previous == "items.append(1)\n"


def test_without_a_baseline_nothing_runs():
    """With no known text the module came from, nothing is compared or run."""
    old = _recompile.compile_source(BASE, "m.py")
    new = _incremental.update_source(old, BASE.replace("LIMIT = 3", "LIMIT = 4"), "m.py")
    assert new.region is not None
    assert _kinds(_plan.plan(old, new, retry=False)) == [("run", "LIMIT = 4")]
    assert _plan.plan(None, new, retry=False).actions == []
