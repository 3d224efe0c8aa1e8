"""configure(): log level, colour, and what a failed reload does."""

from __future__ import annotations

import io
import logging
import sys

import pytest

import hotfunc
from hotfunc import _logging, _state
from hotfunc.exceptions import ReloadError

SOURCE = "from hotfunc import hot\n@hot\ndef f():\n    return {v}\n"


@pytest.fixture(autouse=True)
def _policy():
    yield
    _state.settings.on_error = "log"


def test_on_error_raise_until_fixed(project):
    """on_error="raise": the broken function raises ReloadError at its next calls, until fixed."""
    hotfunc.configure(on_error="raise")
    mod = project.load(SOURCE.format(v=1))
    project.edit(mod, "from hotfunc import hot\n@hot\ndef f(:\n")
    hotfunc.reload()
    with pytest.raises(ReloadError, match=":3: SyntaxError"):
        mod.f()
    project.edit(mod, SOURCE.format(v=1))  # back to the very text that last worked
    hotfunc.reload()
    assert mod.f() == 1


def test_on_error_raise_keeps_closures(project):
    """The raising code fits a closure's cells, and the closure works again once fixed."""
    hotfunc.configure(on_error="raise")
    source = (
        "from hotfunc import hot\n"
        "def make(n):\n"
        "    @hot\n"
        "    def inner():\n"
        "        return n{tail}\n"
        "    return inner\n"
    )
    mod = project.load(source.format(tail=""))
    inner = mod.make(5)
    project.edit(mod, source.format(tail=" +* 1"))
    hotfunc.reload()
    with pytest.raises(ReloadError):
        inner()
    project.edit(mod, source.format(tail=" + 1"))
    hotfunc.reload()
    assert inner() == 6


def test_on_error_callable(project):
    """A callable policy gets each failed event."""
    failed = []
    hotfunc.configure(on_error=failed.append)
    mod = project.load(SOURCE.format(v=1))
    project.edit(mod, "def f(:\n")
    hotfunc.reload()
    assert [e.entry.qualname for e in failed] == ["f"] and not failed[0].ok
    assert mod.f() == 1


def test_bad_policy():
    """An unknown policy is refused with the rule."""
    with pytest.raises(ValueError, match="on_error must be 'log', 'raise' or a callable"):
        hotfunc.configure(on_error="explode")


def _isolated_logging(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    logger = logging.getLogger("hotfunc")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    return logger


def test_own_handler_when_logging_is_not_configured(monkeypatch):
    """Without logging configured, hotfunc prints one plain line per message on a non-terminal."""
    logger = _isolated_logging(monkeypatch)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    hotfunc.configure(level=logging.INFO)
    logger.info("reloaded %s v%d (%.1f ms)", "app.f", 3, 1.23)
    assert stream.getvalue() == "hotfunc: reloaded app.f v3 (1.2 ms)\n"


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    """Colour follows isatty() and NO_COLOR."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _logging.use_color(Tty()) and not _logging.use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _logging.use_color(Tty())
    formatter = _logging.LineFormatter(color=True)
    record = logging.LogRecord("hotfunc", logging.WARNING, __file__, 1, "bad", None, None)
    assert formatter.format(record) == "\033[33mhotfunc: bad\033[0m"


def test_application_logging_is_left_alone(monkeypatch):
    """When the application configured logging, hotfunc adds no handler of its own."""
    logger = _isolated_logging(monkeypatch)
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    hotfunc.configure(level=logging.DEBUG)
    assert logger.handlers == [] and logger.level == logging.DEBUG


def test_hot_module_registers_its_own_definitions(project, wait):
    """hot(module) makes the module's functions and classes hot, not the names it imported."""
    mod = project.load(
        "import os\nfrom os.path import join\n"
        "def helper():\n    return 1\n"
        "class Box:\n    def size(self):\n        return 2\n"
    )
    assert hotfunc.hot(mod) is mod
    assert sorted(e.qualname for e in hotfunc.registry) == ["Box.size", "helper"]
    hotfunc.start()
    project.edit(
        mod,
        "import os\nfrom os.path import join\n"
        "def helper():\n    return 10\n"
        "class Box:\n    def size(self):\n        return 20\n",
    )
    wait(lambda: (mod.helper(), mod.Box().size()) == (10, 20))
