"""What hotfunc tells the user: the startup line, reminders, other reloaders, signatures."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap

import pytest

import hotfunc
from hotfunc import _logging


def _python(code: str, cwd, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=60,
    )


HOT_MODULE = "from hotfunc import hot\n@hot\ndef f():\n    return 1\n"


def test_start_says_what_it_watches_with_default_logging(tmp_path):
    """start() prints one line naming the files, folders and back-end."""
    (tmp_path / "one.py").write_text(HOT_MODULE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "two.py").write_text(HOT_MODULE)
    done = _python(
        """
        import sys
        sys.path[:0] = [".", "sub"]
        import hotfunc, one, two
        hotfunc.start()
        hotfunc.stop()
        """,
        tmp_path,
    )
    assert done.stderr.splitlines() == ["hotfunc: watching 2 files in 2 folders (inotify)"]


def test_run_mode_says_what_becomes_hot(tmp_path):
    """python -m hotfunc run prints one line naming what becomes hot."""
    (tmp_path / "app.py").write_text("print('ran')\n")
    done = subprocess.run(
        [sys.executable, "-m", "hotfunc", "run", "app.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.stdout == "ran\n"
    assert done.stderr.splitlines() == [
        f"hotfunc: modules under {tmp_path.resolve()}{os.sep} become hot as they are imported"
        " (inotify)"
    ]


def test_a_save_with_no_watcher_started_is_pointed_out(tmp_path):
    """Hot functions, no start(), and a save: one warning says the save is not applied."""
    (tmp_path / "late.py").write_text(HOT_MODULE)
    done = _python(
        """
        import pathlib, sys, time
        sys.path.insert(0, ".")
        import hotfunc, late
        print(repr(hotfunc.registry).splitlines()[0])
        path = pathlib.Path("late.py")
        time.sleep(0.05)  # a later modification time than the registration
        path.write_text(path.read_text().replace("1", "2"))
        time.sleep(hotfunc._host.REMIND_EVERY * 2 + 1)  # let the reminder look
        """,
        tmp_path,
    )
    assert "watcher never started (call hotfunc.start())" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if "no hotfunc watcher runs" in line]
    assert len(warnings) == 1 and "late.py was saved" in warnings[0]
    assert warnings[0].startswith("hotfunc: WARNING: ")


def test_no_reminder_once_started(tmp_path):
    """A process that started the watcher is never reminded."""
    (tmp_path / "late.py").write_text(HOT_MODULE)
    done = _python(
        """
        import pathlib, sys, time
        sys.path.insert(0, ".")
        import hotfunc, late
        hotfunc.reload()
        path = pathlib.Path("late.py")
        time.sleep(0.05)
        path.write_text(path.read_text().replace("1", "2"))
        time.sleep(hotfunc._host.REMIND_EVERY * 2 + 1)
        """,
        tmp_path,
    )
    assert "no hotfunc watcher runs" not in done.stderr


@pytest.mark.parametrize(
    ("env", "preamble", "name", "switch"),
    [
        ({"WERKZEUG_RUN_MAIN": "true"}, "", "Flask's (Werkzeug's) reloader", "use_reloader=False"),
        ({"RUN_MAIN": "true"}, "import django", "Django's autoreloader", "--noreload"),
        ({}, "import uvicorn; sys.argv.append('--reload')", "uvicorn's --reload", "without"),
    ],
    ids=["flask", "django", "uvicorn"],
)
def test_another_reloader_is_named_once(tmp_path, env, preamble, name, switch):
    """Under a framework's own reloader, start() warns once and names the switch."""
    if preamble.startswith("import django"):
        pytest.importorskip("django")
    done = _python(
        f"""
        import sys, types
        {preamble}
        import hotfunc
        hotfunc.start()
        hotfunc.stop()
        hotfunc.start()
        """,
        tmp_path,
        **env,
    )
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2  # one per start()
    assert name in warnings[0] and switch in warnings[0]


def test_warnings_are_labelled_off_a_terminal():
    """Without colour, a warning line says WARNING; news lines stay plain."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_logging.LineFormatter(color=False))
    logger = logging.getLogger("hotfunc.test-label")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("broken")
    logger.warning("%s", "x")
    logging.getLogger("hotfunc.test-label").info("fine")
    logger.setLevel(logging.INFO)
    logger.info("fine")
    assert stream.getvalue().splitlines() == [
        "hotfunc: WARNING: broken",
        "hotfunc: WARNING: x",
        "hotfunc: fine",
    ]


def test_status_shows_the_table_at_a_prompt(project):
    """status() is the table, and its repr is the table too, not a string full of \\n."""
    mod = project.load(HOT_MODULE)
    table = hotfunc.status()
    assert repr(table) == str(table) == repr(hotfunc.registry)
    assert "\\n" not in repr(table) and f"{mod.__name__}.f" in repr(table)


def test_signature_read_at_startup_is_pointed_out(project, caplog):
    """A FastAPI handler that gains a parameter is swapped, and the log says FastAPI
    keeps the old signature until it builds its routes again."""
    pytest.importorskip("fastapi")
    caplog.set_level(logging.INFO, logger="hotfunc")
    source = """
        from fastapi import FastAPI
        from hotfunc import hot

        app = FastAPI()

        @app.get("/items")
        @hot
        def items({params}):
            return {{"limit": {limit}}}
        """
    mod = project.load(source.format(params="", limit=1))
    project.edit(mod, source.format(params="limit: int = 5", limit="limit"))
    hotfunc.reload()
    assert mod.items() == {"limit": 5}
    notes = [
        r.getMessage() for r in caplog.records if "signature of items changed" in r.getMessage()
    ]
    assert len(notes) == 1
    assert "the FastAPI route '/items'" in notes[0] and "until a restart" in notes[0]
    caplog.clear()
    project.edit(mod, source.format(params="limit: int = 5", limit="limit * 2"))
    hotfunc.reload()
    assert not [r for r in caplog.records if "the signature of" in r.getMessage()]


def test_signature_of_a_plain_hot_function_is_not_pointed_out(project, caplog):
    """A function nothing holds at startup changes its signature without a note."""
    caplog.set_level(logging.INFO, logger="hotfunc")
    mod = project.load("from hotfunc import hot\n@hot\ndef f():\n    return 1\n")
    project.edit(mod, "from hotfunc import hot\n@hot\ndef f(x=2):\n    return x\n")
    hotfunc.reload()
    assert mod.f() == 2
    assert not [r for r in caplog.records if "the signature of" in r.getMessage()]


def test_a_save_that_swaps_thousands_logs_one_readable_line(project, caplog):
    """The save's line names the first functions it swapped and counts the rest."""
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {{v}}\n" for i in range(500)
    )
    mod = project.load(source.format(v=1))
    project.edit(mod, source.format(v=2))
    with caplog.at_level(logging.INFO, logger="hotfunc"):
        hotfunc.reload()
    (line,) = [r.getMessage() for r in caplog.records if "swapped" in r.getMessage()]
    assert ": swapped f0 v1, f1 v1, f2 v1," in line and "f9 v1 and 490 more (" in line
    assert len(line) < 300 and mod.f499() == 2
