"""run --browser in a real browser: each framework's page follows the saves by itself.

Headless Chromium (Debian's ``chromium``, not a downloaded one) driven by
Playwright.  For Flask, FastAPI under uvicorn, Django's ``runserver`` and
tornado, started with ``python -m hotfunc run --browser``: a view's edit
shows in the open page, a syntax error shows the overlay with the file and
line, the fix takes it away, and a stylesheet's edit is swapped in place
(a value set on ``window`` survives it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotfunc.testing import wait_for, write_source

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Seconds a page has to show a save, from the write: a deadline, not a speed
#: (bench/browser.py measures that); a 2-core machine running a server's
#: workers and Chromium at once can take over a second.
SHOWS_WITHIN = 10.0

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` installs it",
)

CSS = "h1 { color: rgb(255, 0, 0); }\n"
CSS_EDITED = "h1 { color: rgb(0, 0, 255); }\n"
TEMPLATE = """
<!doctype html>
<html><head><title>t</title><link rel="stylesheet" href="/static/site.css"></head>
<body><h1 id="m">{message}</h1></body></html>
"""

FLASK = """
from flask import Flask, render_template

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", message=message())


def message():
    return "one"
"""

FASTAPI = """
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

app = FastAPI()
app.mount("/static", StaticFiles(directory="static"), name="static")
templates = Jinja2Templates(directory="templates")


@app.get("/")
def index(request: Request):
    return templates.TemplateResponse(request, "index.html", {"message": message()})


def message():
    return "one"
"""

TORNADO = """
import asyncio
import sys

import tornado.web


class Main(tornado.web.RequestHandler):
    def get(self):
        self.render("templates/index.html", message=message())


def message():
    return "one"


async def main():
    app = tornado.web.Application([(r"/", Main)], static_path="static")
    app.listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()


asyncio.run(main())
"""

DJANGO_MANAGE = """
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

DJANGO_SETTINGS = """
from pathlib import Path

BASE = Path(__file__).parent
DEBUG = True
SECRET_KEY = "test"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE / "static"]
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE / "templates"]}
]
"""

DJANGO_URLS = """
from django.urls import path

import views

urlpatterns = [path("", views.index)]
"""

DJANGO_VIEWS = """
from django.shortcuts import render


def index(request):
    return render(request, "index.html", {"message": message()})


def message():
    return "one"
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``python -m hotfunc run --browser ...`` in a project folder, its output kept."""

    def __init__(self, root: Path, args: list[str], port: int) -> None:
        self.root = root
        self.port = port
        self.log = (root / "server.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotfunc", "run", "--browser", *args],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return (self.root / "server.log").read_text()

    def up(self) -> None:
        def listening() -> bool:
            assert self.process.poll() is None, self.output()
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, 30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 2)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.log.close()


def _project(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


APPS: dict[str, tuple[dict[str, str], str, Callable[[int], list[str]]]] = {
    "flask": (
        {"app.py": FLASK, "templates/index.html": TEMPLATE.replace("{message}", "{{ message }}")},
        "app.py",
        lambda port: ["-m", "flask", "--app", "app", "run", "--port", str(port)],
    ),
    "fastapi": (
        {
            "app.py": FASTAPI,
            "templates/index.html": TEMPLATE.replace("{message}", "{{ message }}"),
        },
        "app.py",
        lambda port: ["-m", "uvicorn", "app:app", "--port", str(port)],
    ),
    "uvicorn-workers": (
        {
            "app.py": FASTAPI,
            "templates/index.html": TEMPLATE.replace("{message}", "{{ message }}"),
        },
        "app.py",
        lambda port: ["-m", "uvicorn", "app:app", "--port", str(port), "--workers", "2"],
    ),
    "django": (
        {
            "manage.py": DJANGO_MANAGE,
            "settings.py": DJANGO_SETTINGS,
            "urls.py": DJANGO_URLS,
            "views.py": DJANGO_VIEWS,
            "templates/index.html": TEMPLATE.replace("{message}", "{{ message }}"),
        },
        "views.py",
        lambda port: ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
    ),
    "tornado": (
        {"app.py": TORNADO, "templates/index.html": TEMPLATE.replace("{message}", "{{ message }}")},
        "app.py",
        lambda port: ["app.py", str(port)],
    ),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        launched.new_page().close()  # Chromium's own start-up is not a save's time
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Server, str]]:
    files, view, command = APPS[request.param]
    pytest.importorskip(request.param.replace("uvicorn-workers", "fastapi"))
    _project(tmp_path, {**files, "static/site.css": CSS})
    port = _port()
    server = Server(tmp_path, command(port), port)
    try:
        server.up()
        yield server, view
    finally:
        server.stop()


def _shows(page: object, script: str, expected: object, within: float) -> float:
    """Seconds until ``script`` evaluates to ``expected`` in the page; fails after ``within``."""
    started = time.perf_counter()
    deadline = started + within
    seen: object = None
    while time.perf_counter() < deadline:
        try:
            seen = page.evaluate(script)  # type: ignore[attr-defined]
        except sync_api.Error:  # the page is navigating: its next document answers
            seen = None
        if seen == expected:
            return time.perf_counter() - started
        time.sleep(0.01)
    raise AssertionError(f"{script} is {seen!r}, not {expected!r}, {within} s after the save")


TEXT = "document.getElementById('m') && document.getElementById('m').textContent"
OVERLAY = "(document.getElementById('hotfunc-overlay') || {}).textContent || null"
CONNECTED = "document.getElementById('hotfunc-client').dataset.state === 'open'"
COLOR = "getComputedStyle(document.getElementById('m')).color"


@pytest.mark.parametrize("served", list(APPS), indirect=True)
def test_the_page_follows_the_saves(browser: object, served: tuple[Server, str]) -> None:
    server, view = served
    path = server.root / view
    text = path.read_text()
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        assert page.evaluate(TEXT) == "one", server.output()
        assert page.evaluate(COLOR) == "rgb(255, 0, 0)"
        page.wait_for_function(CONNECTED)

        # A view's edit: the page reloads by itself.
        write_source(path, text.replace('"one"', '"two"'))
        _shows(page, TEXT, "two", SHOWS_WITHIN)

        # A syntax error: the overlay names the file and the line; no reload.
        broken = text.replace('"one"', '"three"').replace("def message():", "def message(:")
        write_source(path, broken)
        line = broken.splitlines().index("def message(:") + 1
        wait_for(lambda: page.evaluate(OVERLAY) is not None, 5)
        overlay = page.evaluate(OVERLAY)
        assert f"{path.name}:{line}" in overlay and "def message(:" in overlay, overlay
        assert page.evaluate(TEXT) == "two"

        # The fix: the overlay goes and the text updates.
        write_source(path, text.replace('"one"', '"three"'))
        _shows(page, f"[{TEXT}, {OVERLAY}]", ["three", None], SHOWS_WITHIN)

        # A stylesheet's edit: swapped in place, the page is the same document.
        page.evaluate("window.marker = 42")
        write_source(server.root / "static" / "site.css", CSS_EDITED)
        _shows(page, COLOR, "rgb(0, 0, 255)", SHOWS_WITHIN)
        assert page.evaluate("window.marker") == 42

        # A template's edit: the framework's cache lets the next render read it.
        template = server.root / "templates" / "index.html"
        write_source(template, template.read_text().replace('id="m">', 'id="m">saved '))
        _shows(page, TEXT, "saved three", SHOWS_WITHIN)
    finally:
        page.close()


@pytest.mark.parametrize("served", ["flask", "django", "tornado"], indirect=True)
def test_a_request_that_raises_in_the_saved_code_shows_on_the_error_page(
    browser: object, served: tuple[Server, str]
) -> None:
    server, view = served
    path = server.root / view
    text = path.read_text()
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        assert page.evaluate(TEXT) == "one", server.output()
        page.wait_for_function(CONNECTED)
        raising = text.replace('return "one"', 'return {}["missing"]')
        write_source(path, raising)
        line = raising.splitlines().index('    return {}["missing"]') + 1
        # The page reloads into the framework's error page, which shows the overlay.
        wait_for(lambda: page.evaluate(OVERLAY) is not None, 5)
        overlay = page.evaluate(OVERLAY)
        assert f"{path.name}:{line}" in overlay, overlay
        assert "KeyError" in overlay and "which the last save changed" in overlay, overlay

        write_source(path, text.replace('"one"', '"fixed"'))
        _shows(page, f"[{TEXT}, {OVERLAY}]", ["fixed", None], 5)
    finally:
        page.close()


@pytest.mark.parametrize("served", ["fastapi", "flask"], indirect=True)
def test_a_page_comes_back_after_a_restart_and_reloads_if_a_save_came_meanwhile(
    browser: object, served: tuple[Server, str]
) -> None:
    server, view = served
    path = server.root / view
    text = path.read_text()
    page = browser.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        assert page.evaluate(TEXT) == "one", server.output()
        page.wait_for_function(CONNECTED)
        page.evaluate("window.marker = 42")
        # The server stops with the page's stream open: it does not wait for it.
        os.killpg(server.process.pid, 2)
        server.process.wait(10)
        # Saved while the server is down; the page reloads once it is back.
        write_source(path, text.replace('"one"', '"while down"'))
        _, _, command = APPS[served_name(server)]
        again = Server(server.root, command(server.port), server.port)
        try:
            again.up()
            _shows(page, TEXT, "while down", 10)
            assert page.evaluate("window.marker") is None  # a reload, not a swap
        finally:
            again.stop()
    finally:
        page.close()


def served_name(server: Server) -> str:
    return "fastapi" if "FastAPI" in (server.root / "app.py").read_text() else "flask"
