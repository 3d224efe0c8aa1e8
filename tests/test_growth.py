"""Code that grows: what a save runs, adds, patches and rebuilds, through the real watcher.

Each test follows one rule of docs/how-it-works.md.  Where a rule says that
something must *not* happen, the test saves a second, visible change after
the one under test and waits for it: the watcher handles saves in order, so
once the marker landed, the first save has been handled too.
"""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest

import hotfunc

pytestmark = pytest.mark.usefixtures("watching")


def _events(into: list[hotfunc.ReloadEvent]) -> None:
    hotfunc.on_reload(into.append)


def _marker(project, mod, wait, value: int) -> None:
    """Append a visible change and wait until it is live."""
    assert mod.__file__ is not None
    with open(mod.__file__, encoding="utf-8") as fh:
        text = fh.read()
    targets: list[str] = []
    hotfunc.on_reload(lambda event: targets.append(event.target))
    project.edit(mod, text + f"\nMARKER = {value}\n")
    # The event comes once the whole save is reported, log lines included.
    wait(lambda: getattr(mod, "MARKER", None) == value and f"MARKER = {value}" in targets)


BOOT = """
    from hotfunc import hot
    BOOTS = []
    BOOTS.append("boot")
    LIMIT = 3

    @hot
    def limit():
        return LIMIT
"""


def test_reformatting_comments_and_moves_run_nothing(project, wait):
    """Rule 1: a reformatted, re-commented or moved statement is not a change."""
    mod = project.load(BOOT)
    events: list[hotfunc.ReloadEvent] = []
    _events(events)
    project.edit(
        mod,
        """
        # a comment at the top moves every line
        from hotfunc import hot


        BOOTS = [ ]
        BOOTS.append( "boot" )   # same call
        LIMIT = (3)

        @hot
        def limit():

            return   LIMIT  # reformatted
        """,
    )
    _marker(project, mod, wait, 1)
    wait(lambda: events)  # callbacks run on a thread of their own
    assert mod.BOOTS == ["boot"]
    assert hotfunc.registry[mod.limit].version == 0
    assert [e.action for e in events] == ["ran"]  # the marker, nothing else
    assert mod.limit.__code__.co_firstlineno == 10  # tracebacks see the new lines


def test_new_import_constant_and_helper_take_effect_in_file_order(project, wait):
    """Rules 2 and 3: new and changed statements run once, in order; the rest never."""
    mod = project.load(BOOT)
    project.edit(
        mod,
        """
        from hotfunc import hot
        import json
        BOOTS = []
        BOOTS.append("boot")
        LIMIT = 5
        DOUBLE = LIMIT * 2

        def helper():
            return json.dumps({"limit": LIMIT, "double": DOUBLE})

        @hot
        def limit():
            return helper()
        """,
    )
    wait(lambda: mod.limit() == '{"limit": 5, "double": 10}')
    assert mod.BOOTS == ["boot"]


def test_statement_that_raises_reports_file_line_and_keeps_other_edits(project, wait, caplog):
    """Rule 10: the failure has file:line and one WARNING; independent edits apply."""
    caplog.set_level(logging.WARNING, logger="hotfunc")
    mod = project.load(BOOT)
    project.edit(
        mod,
        """
        from hotfunc import hot
        BOOTS = []
        BOOTS.append("boot")
        LIMIT = 7
        BROKEN = {}["missing"]

        @hot
        def limit():
            return LIMIT + 1
        """,
    )
    wait(lambda: mod.limit() == 8 and hotfunc.registry.failures())
    failures = hotfunc.registry.failures()
    assert len(failures) == 1
    assert f"{mod.__file__}:6: running " in failures[0] and "KeyError: 'missing'" in failures[0]
    assert "pending: " + failures[0] in repr(hotfunc.registry)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == failures


def test_failed_statement_is_retried_at_every_save_until_it_runs(project, wait):
    """Rule 10: the failed statement stays pending, even with its text unchanged."""
    mod = project.load(BOOT)
    source = textwrap.dedent(BOOT) + "import later_{n}\nVALUE = later_{n}.VALUE\n"
    name = mod.__name__
    project.edit(mod, source.format(n=name))
    wait(lambda: hotfunc.registry.failures())
    project.write(f"later_{name}", "VALUE = 42\n")
    # Another save of the file, the failing lines untouched.
    project.edit(mod, source.format(n=name).replace("LIMIT = 3", "LIMIT = 4"))
    wait(
        lambda: (
            getattr(mod, "VALUE", None) == 42
            and mod.limit() == 4
            and not hotfunc.registry.failures()
        )  # the save's report comes last
    )
    assert mod.BOOTS == ["boot"]


def test_undoing_a_failed_edit_runs_nothing(project, wait):
    """Rule 10: the baseline only advances with what ran; the old text is what is live."""
    anchor = "@hot\ndef anchor():\n    return 1\n"
    mod = project.load("from hotfunc import hot\nBOOTS = []\nBOOTS.append(1)\n" + anchor)
    project.edit(mod, "from hotfunc import hot\nBOOTS = []\nBOOTS.append(1 / 0)\n" + anchor)
    wait(lambda: hotfunc.registry.failures())
    project.edit(mod, "from hotfunc import hot\nBOOTS = []\nBOOTS.append(1)\n" + anchor)
    wait(lambda: not hotfunc.registry.failures())
    _marker(project, mod, wait, 1)
    assert mod.BOOTS == [1]


def test_body_swap_reaches_every_reference(project, wait):
    """Rule 4: copies made by 'from m import f', wrappers and bound methods see the new code."""
    mod = project.load(
        """
        import functools
        from hotfunc import hot

        @hot
        def f():
            return "old"

        def deco(func):
            @functools.wraps(func)
            def wrapper():
                return func()
            return wrapper

        wrapped = deco(f)

        class C:
            @hot
            def m(self):
                return "old"
        """
    )
    copy, bound = mod.f, mod.C().m
    project.edit(mod, mod.__loader__.get_source(mod.__name__).replace('"old"', '"new"'))
    wait(lambda: copy() == "new" and bound() == "new")
    assert mod.wrapped() == "new"
    assert copy is mod.f


def test_added_function_is_hot_from_then_on(project, wait):
    """Rule 5: a function an edit adds, without @hot, is swapped in place on later edits."""
    mod = project.load(BOOT)
    with_helper = textwrap.dedent(BOOT) + "\ndef helper():\n    return 'v1'\n"
    project.edit(mod, with_helper)
    wait(lambda: hasattr(mod, "helper"))
    helper = mod.helper
    assert helper in hotfunc.registry
    project.edit(mod, with_helper.replace("'v1'", "'v2'"))
    wait(lambda: helper() == "v2")
    assert mod.helper is helper


def test_changed_function_without_hot_is_adopted_and_swapped(project, wait):
    """A function that was not hot and whose body changed is swapped in place, not re-run."""
    source = """
        from hotfunc import hot
        REGISTERED = []

        def register(func):
            REGISTERED.append(func)
            return func

        @register
        def plain():
            return "{v}"

        @hot
        def anchor():
            return 1
        """
    mod = project.load(source.format(v="old"))
    project.edit(mod, source.format(v="new"))
    wait(lambda: mod.REGISTERED[0]() == "new")
    assert [mod.plain] == mod.REGISTERED
    assert hotfunc.registry[mod.plain].version == 1


CLASS = """
    from hotfunc import hot

    class Cart:
        TAX = 1

        def __init__(self):
            self.items = [1, 2]

        @hot
        def count(self):
            return len(self.items)
"""


def test_class_gains_methods_and_attributes_on_the_live_class(project, wait):
    """Rule 6: existing instances see new methods, properties, static and class methods."""
    mod = project.load(CLASS)
    cart = mod.Cart()
    cls = mod.Cart
    project.edit(
        mod,
        CLASS.replace(
            "        TAX = 1\n",
            """\
        TAX = 2

        def total(self):
            return sum(self.items) * self.TAX

        @property
        def doubled(self):
            return self.total() * 2

        @staticmethod
        def unit():
            return "EUR"

        @classmethod
        def name(cls):
            return cls.__name__
""",
        ),
    )
    wait(lambda: hasattr(cart, "total") and hasattr(mod.Cart, "name"))
    assert mod.Cart is cls
    assert (cart.total(), cart.doubled, cart.unit(), cart.name()) == (6, 12, "EUR", "Cart")
    assert hotfunc.registry[cls.total].version == 0  # hot from now on


def test_new_method_using_super_works_on_the_live_class(project, wait):
    """A method added to a subclass may use zero-argument super()."""
    source = """
        from hotfunc import hot

        class Base:
            def greet(self):
                return "base"

        @hot
        class Child(Base):
            def other(self):
                return 1
        """
    mod = project.load(source)
    child = mod.Child()
    project.edit(
        mod,
        source
        + "\n            def greet(self):\n                return 'child+' + super().greet()\n",
    )
    wait(lambda: child.greet() == "child+base")


def test_changed_decorator_runs_again_and_later_edits_reach_the_new_object(project, wait, caplog):
    """Rule 7: a new decorator argument re-runs the definition; the orphan gets nothing."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    source = """
        from hotfunc import hot
        ROUTES = {{}}

        def route(path):
            def register(func):
                ROUTES[path] = func
                return func
            return register

        @route("{path}")
        @hot
        def view():
            return "{body}"
        """
    mod = project.load(source.format(path="/a", body="one"))
    project.edit(mod, source.format(path="/b", body="one"))
    wait(lambda: "/b" in mod.ROUTES)
    orphan, new = mod.ROUTES["/a"], mod.ROUTES["/b"]
    assert orphan is not new and mod.view is new
    project.edit(mod, source.format(path="/b", body="two"))
    wait(lambda: new() == "two")
    assert orphan() == "one"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "may still be registered" in messages


@pytest.mark.parametrize(
    ("header", "body", "added", "check"),
    [
        (
            "from dataclasses import dataclass\n@dataclass\nclass Point:",
            "x: int = 0",
            "y: int = 5",
            lambda mod: mod.Point().y == 5,
        ),
        (
            "from enum import Enum\nclass Point(Enum):",
            "X = 0",
            "Y = 5",
            lambda mod: mod.Point.Y.value == 5,
        ),
        (
            "from typing import NamedTuple\nclass Point(NamedTuple):",
            "x: int = 0",
            "y: int = 5",
            lambda mod: mod.Point().y == 5,
        ),
        (
            "class Point:",
            "__slots__ = ('x',)",
            "LIMIT = 5",
            lambda mod: getattr(mod.Point, "LIMIT", None) == 5,
        ),
    ],
    ids=["dataclass", "enum", "namedtuple", "slots"],
)
def test_generated_class_gaining_a_field_is_rebuilt(
    project, wait, caplog, header, body, added, check
):
    """Rule 8: classes built from their body are rebuilt, with a line about old instances."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    source = "from hotfunc import hot\n@hot\ndef anchor():\n    return 1\n{header}\n    {body}\n"
    mod = project.load(source.format(header=header, body=body))
    old = mod.Point
    project.edit(mod, source.format(header=header, body=f"{body}\n    {added}"))
    wait(lambda: check(mod))
    assert mod.Point is not old
    # The save's report is written once every change of it is applied.
    wait(lambda: "existing instances keep the old class" in caplog.text)


def test_main_block_never_runs_again(project, wait, caplog):
    """Rule 9: an edited __main__ block is skipped, and the log says so."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    source = (
        "from hotfunc import hot\n@hot\ndef anchor():\n    return 1\n"
        "STARTS = []\nif __name__ == '{name}':\n    {body}\n"
    )
    mod = project.load(source.format(name="__main__", body="STARTS.append(1)"))
    mod.STARTS.append("imported")
    # Named as the module is, the guard would run at import; as __main__ it never runs here.
    project.edit(mod, source.format(name="__main__", body="STARTS.append(2)"))
    _marker(project, mod, wait, 1)
    assert mod.STARTS == ["imported"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "__main__' block changed; it is not run again" in messages


def test_removed_definition_leaves_the_live_object(project, wait):
    """Rule 11: removing a def from the file leaves the running object alone."""
    mod = project.load(BOOT + "\n    def gone():\n        return 'here'\n")
    project.edit(mod, BOOT)
    _marker(project, mod, wait, 1)
    assert mod.gone() == "here"


def test_restored_definition_takes_the_code_in_place(project, wait):
    """A def removed and then restored swaps the function the program kept; no second one."""
    source = BOOT + "\n    def gone():\n        return '{v}'\n"
    mod = project.load(source.format(v="one"))
    kept = mod.gone
    project.edit(mod, BOOT)
    _marker(project, mod, wait, 1)
    project.edit(mod, source.format(v="two"))
    wait(lambda: kept() == "two")
    assert mod.gone is kept
    assert len([e for e in hotfunc.registry if e.qualname == "gone"]) == 1


def test_one_line_per_save_and_events_carry_the_facts(project, wait, caplog):
    """Rule 12: one INFO line names what was swapped, ran and added; events say the same."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    mod = project.load(BOOT)
    events: list[hotfunc.ReloadEvent] = []
    _events(events)
    project.edit(
        mod,
        textwrap.dedent(BOOT)
        .replace("LIMIT = 3", "import json\nLIMIT = 5")
        .replace("return LIMIT", "return LIMIT + 1")
        + "\ndef extra():\n    return 0\n",
    )
    wait(lambda: len(events) >= 4)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"{mod.__file__}: swapped limit v1; ran: import json, LIMIT = 5; added: extra ("
    )
    facts = sorted((e.action, e.target) for e in events)
    assert facts == [
        ("added", "extra"),
        ("ran", "LIMIT = 5"),
        ("ran", "import json"),
        ("swapped", f"{mod.__name__}.limit"),
    ]
    assert all(e.file == mod.__file__ and e.line > 0 for e in events)


def test_moved_function_that_calls_an_imported_object_keeps_its_version(project, wait):
    """Rule 12: a function that only moved is not reported, even one calling a method
    on an imported name (which the compiler treats apart)."""
    source = """
        from json import decoder
        from hotfunc import hot
        {gap}
        @hot
        def changed():
            return {value}

        @hot
        def moved():
            return decoder.JSONDecoder().decode("1")
        """
    mod = project.load(source.format(gap="", value=1))
    events: list[hotfunc.ReloadEvent] = []
    _events(events)
    project.edit(mod, source.format(gap="\n\n", value=2))
    wait(lambda: mod.changed() == 2 and events)
    assert [e.target for e in events] == [f"{mod.__name__}.changed"]
    assert hotfunc.registry[mod.moved].version == 0
    assert hotfunc.diff(mod.moved) == ""


def test_an_added_import_bumps_no_function_that_calls_through_it(project, wait):
    """Adding an import changes how CPython compiles method calls on that name
    everywhere in the file; functions whose text did not change keep their version."""
    source = """
        from hotfunc import hot
        {imports}
        @hot
        def dumps():
            return json.dumps([1])

        class Codec:
            @hot
            def encode(self):
                return json.dumps([2])

            @hot
            def other(self):
                return {value}
        """
    mod = project.load(source.format(imports="json = __import__('json')", value=1))
    events: list[hotfunc.ReloadEvent] = []
    _events(events)
    project.edit(mod, source.format(imports="import json", value=2))
    wait(lambda: mod.Codec().other() == 2 and len(events) >= 2)
    assert sorted((e.action, e.target) for e in events) == [
        ("ran", "import json"),
        ("swapped", f"{mod.__name__}.Codec.other"),
    ]
    assert hotfunc.registry[mod.dumps].version == 0
    assert hotfunc.registry[mod.Codec.encode].version == 0
    assert mod.dumps() == "[1]" and mod.Codec().encode() == "[2]"


def test_opt_out_runs_nothing_but_hot_bodies(project, wait, monkeypatch):
    """Rule 13: with run_statements off, only hot function bodies change."""
    hotfunc.configure(run_statements=False)
    try:
        mod = project.load(BOOT)
        project.edit(
            mod,
            textwrap.dedent(BOOT)
            .replace("LIMIT = 3", "LIMIT = 5\nNEW = 1")
            .replace("return LIMIT", "return 'body'"),
        )
        wait(lambda: mod.limit() == "body")
        assert mod.LIMIT == 3 and not hasattr(mod, "NEW")
    finally:
        hotfunc.configure(run_statements=True)


def test_hot_module_runs_changed_constants_without_any_function(project, wait):
    """hot(module) on a module of constants only: its saves still apply."""
    mod = project.load("LIMIT = 3\nBOOTS = []\nBOOTS.append(1)\n")
    hotfunc.hot(mod)
    project.edit(mod, "LIMIT = 4\nBOOTS = []\nBOOTS.append(1)\n")
    wait(lambda: mod.LIMIT == 4)
    assert mod.BOOTS == [1]


def test_hot_module_tolerates_objects_whose_attributes_raise(project, wait):
    """Probing the module's globals never raises, even for a proxy that raises on any access."""
    mod = project.load(
        """
        class Proxy:
            def __getattr__(self, name):
                raise RuntimeError("working outside of request context")
            @property
            def __class__(self):
                raise RuntimeError("working outside of request context")

        request = Proxy()

        def view():
            return "old"
        """
    )
    hotfunc.hot(mod)
    view = mod.view
    assert view in hotfunc.registry
    project.edit(mod, mod.__loader__.get_source(mod.__name__).replace('"old"', '"new"'))
    wait(lambda: view() == "new")


def test_diff_of_a_file_shows_what_the_last_save_ran(project, wait):
    """diff(path) shows the statements a save ran, before and after."""
    mod = project.load(BOOT)
    project.edit(mod, textwrap.dedent(BOOT).replace("LIMIT = 3", "LIMIT = 9"))
    wait(lambda: mod.limit() == 9)
    text = hotfunc.diff(mod.__file__)
    assert "-LIMIT = 3" in text and "+LIMIT = 9" in text


@pytest.mark.skipif(sys.platform != "linux", reason="the inotify back-end is Linux's")
def test_statement_changes_leave_the_watcher_running(project, wait):
    """A statement that raises SystemExit does not end the watcher."""
    mod = project.load(BOOT)
    project.edit(mod, textwrap.dedent(BOOT) + "import sys\nsys.exit(3)\n")
    wait(lambda: hotfunc.registry.failures())
    assert "SystemExit" in hotfunc.registry.failures()[0]
    project.edit(mod, textwrap.dedent(BOOT).replace("LIMIT = 3", "LIMIT = 6"))
    wait(lambda: mod.limit() == 6)
    assert hotfunc.is_running()
