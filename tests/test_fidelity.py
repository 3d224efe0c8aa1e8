"""A save leaves the process as a fresh import of the same files would, or says where not.

Each test writes a small package, imports it, makes it hot, saves new text as
an editor would, and waits until the save landed.  Then the hot process is
compared with a new interpreter importing the same files
(``hotfunc.testing.unlike_fresh_import``): every difference must be absent
or reported.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

import hotfunc
from hotfunc.testing import unlike_fresh_import, write_source

pytestmark = pytest.mark.usefixtures("watching")


class Tree:
    """A folder of modules on sys.path, made hot whole."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        for name, text in files.items():
            self.save(name, text)
        sys.path.insert(0, str(root))
        importlib.invalidate_caches()

    def save(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_source(path, textwrap.dedent(text).lstrip())

    def load(self, *names: str) -> list[object]:
        modules = [importlib.import_module(n) for n in names]
        for module in modules:
            hotfunc.hot(module)
        self.names = list(names)
        return modules

    def unsaid(self) -> list[str]:
        return unlike_fresh_import(self.names, [str(self.root)])


def _saved(module: object, text: str) -> bool:
    """Whether the file of ``module`` as last applied holds ``text``."""
    source = next(s for s in hotfunc.registry.sources() if s.namespace is vars(module))
    return source.baseline is not None and textwrap.dedent(text).lstrip() == source.baseline.text


def test_overload_stubs_above_an_unchanged_function(tmp_path, wait):
    """The live function keeps the implementation's code, not a stub's."""
    tree = Tree(
        tmp_path, {"ov1.py": "import typing\n\ndef lookup(key):\n    return {'a': 1}.get(key)\n"}
    )
    (mod,) = tree.load("ov1")
    lookup = mod.lookup
    new = """
        import typing

        @typing.overload
        def lookup(key: typing.Literal["a"]) -> int: ...
        @typing.overload
        def lookup(key: str) -> int | None: ...
        def lookup(key):
            return {'a': 1}.get(key)
    """
    tree.save("ov1.py", new)
    wait(lambda: _saved(mod, new))
    assert mod.lookup is lookup and lookup("a") == 1
    assert len(typing_overloads(mod.lookup)) == 2  # what a fresh import registers too
    assert tree.unsaid() == []


def typing_overloads(func: object) -> list[object]:
    import typing

    return list(typing.get_overloads(func))  # type: ignore[arg-type]


def test_overload_stubs_and_a_changed_signature(tmp_path, wait):
    """The implementation, paired past its new stubs, is swapped and keeps its name."""
    tree = Tree(
        tmp_path,
        {"ov2.py": "import typing\n\ndef ask(text, default=None):\n    return default or text\n"},
    )
    (mod,) = tree.load("ov2")
    new = """
        import typing

        V = typing.TypeVar("V")


        @typing.overload
        def ask(text: str, default: None = None) -> str: ...


        @typing.overload
        def ask(text: str, default: V) -> V: ...


        def ask(text: str, default: object = None) -> object:
            return default if default is not None else text.upper()
    """
    tree.save("ov2.py", new)
    wait(lambda: mod.ask("hi") == "HI")
    assert tree.unsaid() == []


def test_the_branch_not_taken_changes(tmp_path, wait):
    """A def in the untaken branch of an if is never swapped into the live function;
    another module's copy follows the name."""
    tree = Tree(
        tmp_path,
        {
            "br.py": """
                import sys

                if sys.version_info >= (3, 99):
                    get = None
                else:
                    def get(d, k):
                        return d.get(k)
            """,
            "br_user.py": "from br import get\n\ndef lookup():\n    return get({'a': 1}, 'a')\n",
        },
    )
    br, user = tree.load("br", "br_user")
    new = """
        import sys

        if sys.version_info >= (3, 99):
            import not_installed_module

            def get(d, k):
                return not_installed_module.get(d, k)
        else:
            def get(d, k):
                return d.get(k)
    """
    tree.save("br.py", new)
    wait(lambda: _saved(br, new))
    assert user.lookup() == 1
    assert user.get is br.get
    assert tree.unsaid() == []


def test_an_unchanged_class_attribute_built_from_a_changed_constant(tmp_path, wait):
    """``template = TEMPLATE`` calls nothing, so it runs again on the live class."""
    old = """
        TEMPLATE = "hello %s"

        class Greeter:
            template = TEMPLATE

            def greet(self, who):
                return self.template % who
    """
    tree = Tree(tmp_path, {"greet.py": old})
    (mod,) = tree.load("greet")
    greeter = mod.Greeter()
    tree.save("greet.py", old.replace("hello", "goodbye"))
    wait(lambda: greeter.greet("bob") == "goodbye bob")
    assert tree.unsaid() == []


def test_statements_that_call_code_are_reported_not_run(tmp_path, wait):
    """A statement that reads a changed name but calls code is named with file:line."""
    old = """
        CALLS = []
        LIMIT = 3
        DOUBLE = LIMIT * 2
        CALLS.append(LIMIT)
        SQUARE = pow(LIMIT, 2)
    """
    tree = Tree(tmp_path, {"calls.py": old})
    (mod,) = tree.load("calls")
    tree.save("calls.py", old.replace("LIMIT = 3", "LIMIT = 4"))
    wait(lambda: mod.DOUBLE == 8 and len(hotfunc.registry.stale()) == 2)  # call-free: run again
    stale = hotfunc.registry.stale()
    assert mod.CALLS == [3] and mod.SQUARE == 9  # never re-run behind the program's back
    assert any("calls.py:5: 'SQUARE = pow(LIMIT, 2)' reads 'LIMIT'" in s for s in stale)
    assert any("calls.py:4: 'CALLS.append(LIMIT)'" in s for s in stale)
    assert "stale: " in repr(hotfunc.registry)
    assert tree.unsaid() == []
    # Editing the statement runs it, and its report goes.
    tree.save("calls.py", old.replace("LIMIT = 3", "LIMIT = 4").replace("2)", "2) + 0"))
    # The statement runs mid-save; its report goes as the save ends.
    wait(lambda: mod.SQUARE == 16 and not any("SQUARE" in s for s in hotfunc.registry.stale()))


def test_one_commit_of_two_files_saved_one_after_the_other(tmp_path, wait):
    """An import that fails until its sibling is saved runs when the sibling lands."""
    tree = Tree(
        tmp_path,
        {"pk/__init__.py": "from .util import old\n", "pk/util.py": "def old():\n    return 1\n"},
    )
    pkg, _ = tree.load("pk", "pk.util")
    tree.save("pk/__init__.py", "from .util import old, new\n")
    wait(lambda: hotfunc.registry.failures())
    tree.save("pk/util.py", "def old():\n    return 1\n\ndef new():\n    return 2\n")
    wait(lambda: getattr(pkg, "new", None) is not None and not hotfunc.registry.failures())
    assert pkg.new() == 2
    assert tree.unsaid() == []


def test_a_rebuilt_class_reaches_the_modules_that_imported_it(tmp_path, wait):
    """``from .errors import Exit`` elsewhere follows the rebuilt class, and a subclass there
    is built again on it, as a fresh import would."""
    tree = Tree(
        tmp_path,
        {
            "ap/__init__.py": "",
            "ap/errors.py": """
                class Exit(RuntimeError):
                    __slots__ = ("code",)

                    def __init__(self, code=0):
                        self.code = code
            """,
            "ap/core.py": """
                from .errors import Exit

                class Abort(Exit):
                    pass

                def run():
                    raise Exit(3)
            """,
        },
    )
    _, errors, core = tree.load("ap", "ap.errors", "ap.core")
    new = """
        class Exit(RuntimeError):
            __slots__ = ("code", "reason")

            def __init__(self, code=0, reason=""):
                self.code = code
                self.reason = reason
    """
    old_exit = errors.Exit
    tree.save("ap/errors.py", new)
    wait(lambda: errors.Exit is not old_exit and core.Exit is errors.Exit)
    with pytest.raises(errors.Exit):
        core.run()
    wait(lambda: issubclass(core.Abort, errors.Exit))
    assert core.Abort(2, "why").reason == "why"
    assert hotfunc.registry.stale() == []
    assert tree.unsaid() == []


def test_subclasses_in_other_modules_are_rebuilt_in_import_order(tmp_path, wait, caplog):
    """A base class that gains a base: its subclasses in other hot modules, and theirs, are
    built again on it, module by module; the modules that copied them get the new ones,
    and their statements that read the copies run again; an instance made before keeps
    its class, and the log says so once per class."""
    tree = Tree(
        tmp_path,
        {
            "sch/__init__.py": "",
            "sch/base.py": """
                class FieldABC:
                    def serialize(self, value):
                        raise NotImplementedError
            """,
            "sch/fields.py": """
                from sch.base import FieldABC

                class Field(FieldABC):
                    def serialize(self, value):
                        return str(value)

                class Integer(Field):
                    def serialize(self, value):
                        return int(value)
            """,
            "sch/schema.py": """
                from sch.fields import Field, Integer

                class Schema:
                    fields = {"n": Integer}

                DEFAULT = [Field]

                class IdField(Integer):
                    pass
            """,
        },
    )
    _, base, fields, schema = tree.load("sch", "sch.base", "sch.fields", "sch.schema")
    before = fields.Integer()
    with caplog.at_level("INFO", logger="hotfunc"):
        tree.save(
            "sch/base.py",
            """
            from abc import ABC, abstractmethod

            class FieldABC(ABC):
                @abstractmethod
                def serialize(self, value):
                    raise NotImplementedError
            """,
        )
        wait(lambda: issubclass(schema.IdField, base.FieldABC))
        wait(lambda: caplog.text.count("existing instances keep the old class") == 4)
    assert issubclass(fields.Integer, base.FieldABC) and schema.Integer is fields.Integer
    assert schema.Field is fields.Field and issubclass(schema.IdField, fields.Integer)
    assert fields.Integer().serialize("3") == 3 and type(before) is not fields.Integer
    rebuilt = [r.getMessage() for r in caplog.records if "existing instances" in r.getMessage()]
    assert [m.split(": class ")[1].split()[0] for m in rebuilt] == [
        "'FieldABC'",
        "'Field'",
        "'Integer'",
        "'IdField'",
    ]
    assert schema.Schema.fields["n"] is fields.Integer and schema.DEFAULT[0] is fields.Field
    assert hotfunc.registry.stale() == []
    assert tree.unsaid() == []


def test_import_star_gains_a_newly_exported_name(tmp_path, wait):
    """A package that re-exports with ``import *`` gets what ``__all__`` now lists."""
    tree = Tree(
        tmp_path,
        {
            "ls/__init__.py": "from .more import *\n",
            "ls/more.py": "__all__ = ['first']\n\ndef first(xs):\n    return xs[0]\n",
        },
    )
    lib, _ = tree.load("ls", "ls.more")
    tree.save(
        "ls/more.py",
        "__all__ = ['first', 'last']\n\ndef first(xs):\n    return xs[0]\n\n"
        "def last(xs):\n    return xs[-1]\n",
    )
    wait(lambda: hasattr(lib, "last"))
    assert lib.last([1, 2]) == 2
    assert tree.unsaid() == []


def test_a_constant_rebound_reaches_its_from_imports_only(tmp_path, wait):
    """``from m import LIMIT`` follows; another module's own equal constant does not."""
    tree = Tree(
        tmp_path,
        {
            "cm.py": "LIMIT = 3\nNAMES = ['a']\n",
            "cm_user.py": "from cm import LIMIT, NAMES as KNOWN\n",
            "cm_other.py": "LIMIT = 3\n",
        },
    )
    _, user, other = tree.load("cm", "cm_user", "cm_other")
    tree.save("cm.py", "LIMIT = 4\nNAMES = ['a', 'b']\n")
    wait(lambda: user.LIMIT == 4 and user.KNOWN == ["a", "b"])
    assert other.LIMIT == 3
    assert tree.unsaid() == []


def test_a_hot_class_attribute_reaches_live_instances(tmp_path, wait):
    """``@hot`` on a class does not make it rebuilt: the attribute is set in place."""
    old = """
        from hotfunc import hot

        @hot
        class Cart:
            rate = 1

            def total(self):
                return 10 * self.rate
    """
    tree = Tree(tmp_path, {"cart.py": old})
    (mod,) = tree.load("cart")
    cart, cls = mod.Cart(), mod.Cart
    tree.save("cart.py", old.replace("rate = 1", "rate = 2"))
    wait(lambda: cart.total() == 20)
    assert mod.Cart is cls
    assert tree.unsaid() == []


def test_a_rebuilt_class_keeps_what_later_statements_did_to_it(tmp_path, wait):
    """``Point = add_repr(Point)`` after a rebuilt class runs again with it."""
    old = """
        def add_repr(cls):
            cls.__repr__ = lambda self: f"{type(self).__name__}({self.x})"
            return cls

        class Point:
            __slots__ = ("x",)

            def __init__(self, x):
                self.x = x

        Point = add_repr(Point)
        Point.origin = 0
    """
    tree = Tree(tmp_path, {"pt.py": old})
    (mod,) = tree.load("pt")
    new = old.replace('("x",)', '("x", "y")').replace("self.x = x", "self.x = self.y = x")
    tree.save("pt.py", new)
    # The statements after the class run in the same save, a moment later.
    wait(lambda: "y" in mod.Point.__slots__ and getattr(mod.Point, "origin", None) == 0)
    assert repr(mod.Point(1)) == "Point(1)"
    assert tree.unsaid() == []


def test_closures_a_factory_made_before_the_edit(tmp_path, wait):
    """Methods made by ``make_getter("x")`` at import run the factory's new nested code."""
    old = """
        def make_getter(name):
            def getter(self):
                return getattr(self, name)
            return getter

        class C:
            def __init__(self):
                self.x = 1

            get_x = make_getter("x")
    """
    tree = Tree(tmp_path, {"fac.py": old})
    (mod,) = tree.load("fac")
    tree.save("fac.py", old.replace("getattr(self, name)", "getattr(self, name) * 10"))
    wait(lambda: mod.C().get_x() == 10)
    assert tree.unsaid() == []


def test_a_changed_decorator_decorates_again_what_it_decorated_at_the_top_level(tmp_path, wait):
    """A fresh import runs the decorated definitions again; so does a save of the decorator."""
    tree = Tree(
        tmp_path,
        {
            "dec.py": "def register(obj):\n    obj.version = 1\n    return obj\n",
            "dec_models.py": """
                from dec import register

                @register
                class Model:
                    pass

                @register
                def view():
                    return "v"

                class Holder:
                    @register
                    def method(self):
                        return 1
            """,
        },
    )
    _, models = tree.load("dec", "dec_models")
    old_view = models.view
    tree.save(
        "dec.py", "def register(obj):\n    obj.version = 1\n    obj.props = ()\n    return obj\n"
    )
    wait(lambda: getattr(models.Model, "props", None) == () and hasattr(models.view, "props"))
    assert models.view is not old_view and models.view() == "v"
    # A method inside a class is not a statement of its own: it stays, reported.
    wait(lambda: hotfunc.registry.stale())
    report = "\n".join(hotfunc.registry.stale())
    assert "the decorator dec.register changed" in report
    assert f"{tmp_path / 'dec_models.py'}:13 method" in report
    assert "Model" not in report
    assert tree.unsaid() == []


def test_a_running_function_says_the_running_call_keeps_the_old_code(tmp_path, wait, caplog):
    """The save's line says a swapped function is running, and in how many calls."""
    import threading

    old = """
        import threading

        def main(started, stop):
            started.set()
            stop.wait(10)
            return "old"
    """
    tree = Tree(tmp_path, {"loop.py": old})
    (mod,) = tree.load("loop")
    started, stop = threading.Event(), threading.Event()
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(mod.main(started, stop)))
    thread.start()
    try:
        started.wait(5)
        with caplog.at_level("INFO", logger="hotfunc"):
            tree.save("loop.py", old.replace('"old"', '"new"'))
            wait(lambda: "main is running (1 call)" in caplog.text)
        assert "that call keeps the old code until it returns" in caplog.text
    finally:
        stop.set()
        thread.join(5)
    assert results == ["old"] and mod.main(started, stop) == "new"


def test_reload_without_start_reports_through_hotfunc_output(tmp_path):
    """hotfunc.reload() in a process that never called start() prints hotfunc's lines."""
    import subprocess

    (tmp_path / "nos.py").write_text("X = 1\nY = pow(X, 1)\n")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import hotfunc, nos
        hotfunc.hot(nos)
        open(nos.__file__, "w").write("X = 2\\nY = pow(X, 1)\\n")
        hotfunc.reload(nos.__file__)
        """
    )
    # This test process watches: a child it starts would follow it, and speak quietly.
    env = {k: v for k, v in os.environ.items() if k != "HOTFUNC_FOLLOW"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert "hotfunc: WARNING: " in done.stderr
    assert "nos.py:2: 'Y = pow(X, 1)' reads 'X'" in done.stderr


def test_the_oracle_sees_a_difference_nothing_reported(tmp_path, wait):
    """With statements off, a changed constant stays old, silently: the oracle says so."""
    hotfunc.configure(run_statements=False)
    try:
        tree = Tree(tmp_path, {"orc.py": "LIMIT = 3\n\ndef limit():\n    return LIMIT\n"})
        (mod,) = tree.load("orc")
        tree.save("orc.py", "LIMIT = 4\n\ndef limit():\n    return LIMIT + 0\n")
        wait(lambda: mod.limit() == 3 and hotfunc.registry[mod.limit].version == 1)
        unsaid = tree.unsaid()
    finally:
        hotfunc.configure(run_statements=True)
    assert unsaid == ["orc.LIMIT: hot 3, fresh import 4"]


def test_a_function_under_two_names_moves_once(tmp_path, wait):
    """``visit_a = visit_b = _skip`` registers one function twice; a shift moves it once."""
    # Far from the edit, so that the functions only move.
    filler = "".join(f"def filler{i}():\n    return {i}\n\n\n" for i in range(40))
    old = filler + textwrap.dedent(
        """
        def helper():
            return 1

        alias = helper

        class Visitor:
            def _skip(self):
                return 0

            visit_a = visit_b = _skip
    """
    )
    tree = Tree(tmp_path, {"twice.py": old})
    (mod,) = tree.load("twice")
    new = "# one\n# two\n" + old.lstrip()
    lines = new.splitlines()
    tree.save("twice.py", new)
    wait(lambda: mod.filler0.__code__.co_firstlineno == 3)
    assert mod.helper.__code__.co_firstlineno == lines.index("def helper():") + 1
    assert mod.Visitor._skip.__code__.co_firstlineno == lines.index("    def _skip(self):") + 1
    assert tree.unsaid() == []


def test_two_names_that_held_one_small_int(tmp_path, wait):
    """``A`` and ``B`` both held 1 (one object): the copy of ``A`` follows ``A``."""
    tree = Tree(
        tmp_path,
        {"two.py": "A = 1\nB = A + 0\n", "two_user.py": "from two import A\n"},
    )
    _, user = tree.load("two", "two_user")
    tree.save("two.py", "A = 0\nB = A + 0\n")
    wait(lambda: user.A == 0)
    assert tree.unsaid() == []


def test_a_default_built_from_a_changed_constant(tmp_path, wait):
    """``def f(x=LIMIT)`` calls nothing to make its default: the live function gets the new one;
    a decorator that reads the name is reported instead."""
    old = """
        LIMIT = 3

        def route(path):
            return lambda func: func

        def f(x=LIMIT):
            return x

        @route(LIMIT)
        def g():
            return 0
    """
    tree = Tree(tmp_path, {"dfl.py": old})
    (mod,) = tree.load("dfl")
    f = mod.f
    tree.save("dfl.py", old.replace("LIMIT = 3", "LIMIT = 4"))
    wait(lambda: f() == 4 and hotfunc.registry.stale())
    assert mod.f is f
    (report,) = hotfunc.registry.stale()
    assert "dfl.py:9: 'g' reads 'LIMIT'" in report and "decorators call code" in report
    assert tree.unsaid() == []


def test_another_module_reading_the_name_through_the_module_is_reported(tmp_path, wait):
    """``X = cfg.LIMIT * 2`` in another module is not run behind its back: it is named."""
    user_text = "import cfg\n\nDOUBLE = cfg.LIMIT * 2\n\ndef now():\n    return cfg.LIMIT\n"
    tree = Tree(tmp_path, {"cfg.py": "LIMIT = 3\n", "cfg_user.py": user_text})
    _, user = tree.load("cfg", "cfg_user")
    tree.save("cfg.py", "LIMIT = 4\n")
    wait(lambda: hotfunc.registry.stale())
    (report,) = hotfunc.registry.stale()
    assert "cfg_user.py:3: 'DOUBLE = cfg.LIMIT * 2' reads cfg.LIMIT" in report
    assert user.now() == 4 and user.DOUBLE == 6
    assert tree.unsaid() == []
    # Saving the statement there runs it, and its report goes.
    tree.save(
        "cfg_user.py",
        "import cfg\n\nDOUBLE = cfg.LIMIT * 2 + 0\n\ndef now():\n    return cfg.LIMIT\n",
    )
    wait(lambda: user.DOUBLE == 8 and not hotfunc.registry.stale())


def test_a_stale_statement_is_reported_at_each_save_that_changes_what_it_reads(
    tmp_path, wait, caplog
):
    """A statement left stale is named again by every later save that changes the name it
    reads, with the value that save gave it: the user debugs that value now."""
    old = """
        __version__ = "3.19.0"
        VERSION_INFO = tuple(int(p) for p in __version__.split("."))
    """
    tree = Tree(tmp_path, {"ver.py": old})
    (mod,) = tree.load("ver")
    for version in ("3.20.0", "3.20.1"):
        caplog.clear()
        with caplog.at_level("WARNING", logger="hotfunc"):
            tree.save("ver.py", old.replace("3.19.0", version))
            wait(lambda: "VERSION_INFO" in caplog.text)
        said = [r.getMessage() for r in caplog.records if "VERSION_INFO" in r.getMessage()]
        assert len(said) == 1
        assert "ver.py:2: 'VERSION_INFO = tuple" in said[0]
        assert f"reads '__version__', which this save changed to {version!r}" in said[0]
    assert mod.VERSION_INFO == (3, 19, 0)  # never run again behind the program's back
    (stale,) = hotfunc.registry.stale()
    assert "changed to '3.20.1'" in stale
    assert tree.unsaid() == []  # unlike a fresh import, and said so


def test_what_a_factory_made_moves_with_it(tmp_path, wait):
    """Lines added above a factory move the methods it made when the class was built (a
    class decorator's ``__eq__``): a traceback through them names the line it would after
    a fresh import."""
    old = """
        def _make_eq():
            def __eq__(self, other):
                return self.key() == other.key()
            return __eq__

        def comparable(cls):
            cls.__eq__ = _make_eq()
            return cls

        @comparable
        class Version:
            def __init__(self, n):
                self.n = n

            def key(self):
                return self.n
    """
    tree = Tree(tmp_path, {"gen.py": old})
    (mod,) = tree.load("gen")
    eq = mod.Version.__eq__
    assert eq.__code__.co_firstlineno == 2
    tree.save("gen.py", "# one\n# two\n# three\n" + textwrap.dedent(old).lstrip())
    wait(lambda: eq.__code__.co_firstlineno == 5)
    assert mod.Version(1) == mod.Version(1) and mod.Version.__eq__ is eq
    assert tree.unsaid() == []


def test_what_a_factory_made_for_another_module_moves_with_it(tmp_path, wait):
    """A decorator's factory changes around a nested def that does not (a class library's
    ``_make_ne``): the methods it gave classes in other modules get the lines a fresh
    import gives them."""
    gen = """
        def _make_ne():
            def __ne__(self, other):
                return not self.__eq__(other)
            return __ne__

        def comparable(cls):
            cls.__ne__ = _make_ne()
            return cls
    """
    models = """
        from gen import comparable

        @comparable
        class Version:
            def __init__(self, n):
                self.n = n

            def __eq__(self, other):
                return self.n == other.n
    """
    tree = Tree(tmp_path, {"gen.py": gen, "models.py": models})
    _, mod = tree.load("gen", "models")
    ne = mod.Version.__ne__
    assert ne.__code__.co_firstlineno == 2
    tree.save(
        "gen.py",
        textwrap.dedent(gen).replace("def _make_ne():\n", "def _make_ne():\n    made = 1\n"),
    )
    wait(lambda: ne.__code__.co_firstlineno == 3)
    assert mod.Version(1) != mod.Version(2) and mod.Version.__ne__ is ne
    assert tree.unsaid() == []


def test_a_module_of_a_new_subpackage_a_save_imports_is_hot(tmp_path, wait):
    """A save of a hot package that imports a module of a subpackage created since makes
    that module hot: its own later saves apply, as a fresh import would show them."""
    tree = Tree(tmp_path, {"napp/__init__.py": "VALUE = 1\n"})
    (package,) = tree.load("napp")
    tree.save("napp/sub/__init__.py", "")
    tree.save("napp/sub/mod.py", "def get():\n    return 1\n")
    tree.save("napp/__init__.py", "from napp.sub.mod import get\n")
    mod = str((tmp_path / "napp" / "sub" / "mod.py").resolve())
    wait(lambda: hasattr(package, "get") and mod in hotfunc.registry.paths())
    tree.save("napp/sub/mod.py", "def get():\n    return 2\n")
    wait(lambda: package.get() == 2)
    assert tree.unsaid() == []


def test_statements_that_call_code_run_again_when_opted_in(tmp_path, wait):
    """With ``run_readers`` on, a statement that reads a changed name runs again though it
    calls code, and the process is as a fresh import; off, it is reported and left."""
    old = """
        CALLS = []
        __version__ = "3.19.0"
        VERSION_INFO = tuple(int(p) for p in __version__.split("."))
        CALLS.append(__version__)
    """
    tree = Tree(tmp_path, {"opt.py": old})
    (mod,) = tree.load("opt")
    hotfunc.configure(run_readers=True)
    try:
        tree.save("opt.py", old.replace("3.19.0", "3.20.1"))
        wait(lambda: mod.VERSION_INFO == (3, 20, 1))
        wait(lambda: mod.CALLS == ["3.19.0", "3.20.1"])
        assert hotfunc.registry.stale() == []
    finally:
        hotfunc.configure(run_readers=False)
    tree.save("opt.py", old.replace("3.19.0", "3.21.0"))
    wait(lambda: any("VERSION_INFO" in s for s in hotfunc.registry.stale()))
    assert mod.VERSION_INFO == (3, 20, 1)
    assert tree.unsaid() == []


def test_a_statement_that_calls_a_changed_function_at_import_is_named(tmp_path, wait):
    """``VALUE = make()``, where ``make`` calls what the save changed: named, not run."""
    old = """
        def helper():
            return 1

        def make():
            return helper() * 2

        VALUE = make()

        class Holder:
            made = make()

            def later(self):
                return helper()

        def unrelated():
            return 0

        OTHER = unrelated()
    """
    tree = Tree(tmp_path, {"calls.py": old})
    (mod,) = tree.load("calls")
    tree.save("calls.py", old.replace("return 1", "return 10"))
    wait(lambda: mod.helper() == 10 and len(hotfunc.registry.stale()) == 2)
    report = "\n".join(hotfunc.registry.stale())
    assert f"{tmp_path / 'calls.py'}:7: VALUE = make() calls make" in report
    assert f"{tmp_path / 'calls.py'}:9: Holder calls make" in report
    assert "OTHER" not in report
    assert mod.VALUE == 2  # not run again behind the program's back
    assert tree.unsaid() == []
