"""Save → page updated, in a real browser: run --browser against restarting dev servers.

    python bench/browser.py              # 15 saves each
    python bench/browser.py --saves 5 --json out.json

Headless Chromium (Debian's, ``/usr/bin/chromium``) driven by Playwright
shows the page; each save rewrites the view's returned text, and the time
is from the write to the moment the page shows the new text.  Measured in
one run, on the same project:

- Flask: ``hotfunc run --browser`` (the page reloads itself), against
  ``flask run --debug`` (the server restarts on the save) and a reload
  pressed again and again until the new text shows: the best a developer
  pressing reload can do;
- Django: ``hotfunc run --browser manage.py runserver --noreload``, against
  ``runserver`` (it restarts on the save) with django-browser-reload (the
  page reloads itself once the server is back), where it installs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

TEMPLATE = """<!doctype html>
<html><head><title>bench</title></head><body><h1 id="m">{{ message }}</h1></body></html>
"""

FLASK = """
from flask import Flask, render_template

app = Flask(__name__)


@app.route("/")
def index():
    return render_template("index.html", message=message())


def message():
    return "v0"
"""

SETTINGS = """
from pathlib import Path

BASE = Path(__file__).parent
DEBUG = True
SECRET_KEY = "bench"
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = ["django.contrib.staticfiles"{apps}]
MIDDLEWARE = [{middleware}]
STATIC_URL = "/static/"
TEMPLATES = [
    {{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE / "templates"]}}
]
"""

URLS = """
from django.urls import include, path

import views

urlpatterns = [path("", views.index){extra}]
"""

VIEWS = """
from django.shortcuts import render


def index(request):
    return render(request, "index.html", {"message": message()})


def message():
    return "v0"
"""

MANAGE = """
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _up(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args} never listened on {port}")


def _measure(
    browser: Any,
    root: Path,
    view: str,
    command: list[str],
    saves: int,
    *,
    press: bool,
) -> list[float]:
    """Seconds from each save to the page showing it."""
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    process = subprocess.Popen(
        [c.replace("PORT", str(port)) for c in command],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    page = browser.new_page()
    times: list[float] = []
    try:
        _up(port, process)
        page.goto(f"http://127.0.0.1:{port}/")
        time.sleep(1.0)  # the page's stream (or the reloader's) is connected
        path = root / view
        text = path.read_text()
        for n in range(1, saves + 1):
            expected = f"v{n}"
            written = time.perf_counter()
            path.write_text(text.replace('"v0"', f'"{expected}"'))
            times.append(_shown(page, expected, written, press) - written)
            time.sleep(0.5)  # apart, as a developer's saves are
    finally:
        page.close()
        os.killpg(process.pid, 15)
        process.wait(10)
    return times


def _shown(page: Any, expected: str, written: float, press: bool) -> float:
    script = "document.getElementById('m') && document.getElementById('m').textContent"
    deadline = written + 30
    while time.perf_counter() < deadline:
        try:
            if press:
                page.reload(timeout=5000)
            if page.evaluate(script) == expected:
                return time.perf_counter()
        except Exception:  # the server restarts, or the page navigates
            pass
        time.sleep(0.005)
    raise RuntimeError(f"the page never showed {expected!r}")


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": statistics.median(ordered), "p95_s": p95}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--saves", type=int, default=15)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", action="append", help="run the setups whose name has this")
    options = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("playwright is not installed: pip install playwright") from None
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    python = sys.executable
    hot = [python, "-m", "hotfunc", "run", "--browser"]
    rows: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        cases: list[tuple[str, str, Callable[[Path], str], list[str], bool]] = [
            (
                "Flask: hotfunc run --browser",
                "flask",
                lambda root: _flask(root),
                [*hot, "-m", "flask", "--app", "app", "run", "--port", "PORT"],
                False,
            ),
            (
                "Flask: flask run --debug, reload pressed until it shows",
                "flask",
                lambda root: _flask(root),
                [python, "-m", "flask", "--app", "app", "run", "--debug", "--port", "PORT"],
                True,
            ),
            (
                "Django: hotfunc run --browser runserver --noreload",
                "django",
                lambda root: _django(root, browser_reload=False),
                [*hot, "manage.py", "runserver", "--noreload", "127.0.0.1:PORT"],
                False,
            ),
            (
                "Django: runserver + django-browser-reload",
                "django_browser_reload",
                lambda root: _django(root, browser_reload=True),
                [python, "manage.py", "runserver", "127.0.0.1:PORT"],
                False,
            ),
        ]
        for what, needs, make, command, press in cases:
            try:
                __import__(needs)
            except ImportError:
                print(f"{what}: {needs} is not installed here, skipped")
                continue
            if options.only and not any(word in what for word in options.only):
                continue
            root = Path(tempfile.mkdtemp(prefix="hotfunc-bench-browser-"))
            try:
                view = make(root)
                times = _measure(browser, root, view, command, options.saves, press=press)
            except RuntimeError as exc:  # one setup that never shows a save: the others still run
                print(f"{what}: {exc}")
                continue
            finally:
                shutil.rmtree(root, ignore_errors=True)
            row = {"what": what, "saves": len(times), **_stats(times)}
            rows.append(row)
            print(f"{what}: p50 {row['p50_s'] * 1000:.0f} ms, p95 {row['p95_s'] * 1000:.0f} ms")
        browser.close()
    print("\n| setup | saves | p50 | p95 |\n|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['what']} | {row['saves']} | {row['p50_s'] * 1000:.0f} ms "
            f"| {row['p95_s'] * 1000:.0f} ms |"
        )
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1) + "\n")


def _flask(root: Path) -> str:
    _write(root, {"app.py": FLASK, "templates/index.html": TEMPLATE})
    return "app.py"


def _django(root: Path, *, browser_reload: bool) -> str:
    apps = ', "django_browser_reload"' if browser_reload else ""
    middleware = (
        '"django_browser_reload.middleware.BrowserReloadMiddleware"' if browser_reload else ""
    )
    extra = ', path("__reload__/", include("django_browser_reload.urls"))' if browser_reload else ""
    _write(
        root,
        {
            "manage.py": MANAGE,
            "settings.py": SETTINGS.format(apps=apps, middleware=middleware),
            "urls.py": URLS.format(extra=extra),
            "views.py": VIEWS,
            "templates/index.html": TEMPLATE,
        },
    )
    return "views.py"


if __name__ == "__main__":
    main()
