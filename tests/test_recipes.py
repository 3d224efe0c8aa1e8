"""Each recipe under examples/ runs as a user would run it, and picks up an edit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotfunc.testing import wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    def __init__(self, tmp_path: Path, name: str, *args: str) -> None:
        self.path = tmp_path / name
        shutil.copy(EXAMPLES / name, self.path)
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(self.path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )

    def edit(self, old: str, new: str) -> None:
        text = self.path.read_text()
        assert old in text
        self.path.write_text(text.replace(old, new))

    def get(self, url: str) -> object:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out


@pytest.fixture
def run(tmp_path) -> Iterator[object]:
    started: list[Running] = []

    def start(name: str, *args: str) -> Running:
        running = Running(tmp_path, name, *args)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _serve(run, name: str, url: str, *deps: str) -> tuple[Running, str]:
    for dep in deps:
        pytest.importorskip(dep)
    port = _free_port()
    app = run(name, "--port", str(port))
    full = f"http://127.0.0.1:{port}{url}"
    wait_for(lambda: app.get(full), timeout=30)
    return app, full


def test_tornado(run):
    """tornado: a native async handler and a @gen.coroutine helper both reload."""
    app, url = _serve(run, "tornado_app.py", "/cart?items=apple,pear", "tornado")
    assert app.get(url) == {"items": ["apple", "pear"], "total": 3.25}
    app.edit('self.write({"items": items, "total": amount})', 'self.write({"total": amount})')
    app.edit("return sum(PRICES[name] for name in items)", "return 10 * len(items)")
    wait_for(lambda: app.get(url) == {"total": 20})


def test_asyncio(run):
    """asyncio: the handler coroutine reloads; the hit counter keeps counting."""
    app, url = _serve(run, "asyncio_server.py", "/x")
    first = app.get(url)
    app.edit('return {"path": path, "hits": HITS["count"]}', 'return {"hits": HITS["count"]}')
    wait_for(lambda: set(app.get(url)) == {"hits"})
    assert app.get(url)["hits"] > first["hits"] + 1


def test_flask(run):
    """Flask without its reloader: the view function reloads in the same process."""
    app, url = _serve(run, "flask_app.py", "/user/alice", "flask")
    pid = app.process.pid
    app.edit('return jsonify({"name": name,', 'return jsonify({"who": name.upper(),')
    wait_for(lambda: app.get(url) == {"who": "ALICE", "cart": ["apple"], "currency": "EUR"})
    assert app.process.pid == pid and app.process.poll() is None


def test_flask_everyday_edits(run):
    """Flask: a new import, helper, method and constant take effect; a new route is refused
    by Flask after its first request, and the log says that a restart is needed."""
    app, url = _serve(run, "flask_app.py", "/user/alice", "flask")
    app.edit("import argparse\n", "import argparse\nimport json\n")
    app.edit(
        "\n\nSERVICE = CartService()",
        "\n    def count(self, name: str) -> int:\n        return len(self.items(name))\n"
        '\n\ndef shout(text: str) -> str:\n    return text.upper() + "!"\n'
        "\n\nSERVICE = CartService()",
    )
    app.edit('CURRENCY = "EUR"', 'CURRENCY = "USD"')
    app.edit(
        '"currency": CURRENCY})',
        '"currency": CURRENCY, "count": SERVICE.count(name), "shout": json.dumps(shout(name))})',
    )
    wait_for(
        lambda: (
            app.get(url)
            == {
                "name": "alice",
                "cart": ["apple"],
                "currency": "USD",
                "count": 1,
                "shout": '"ALICE!"',
            }
        )
    )
    app.edit(
        "\n\nif __name__",
        '\n\n@app.get("/health")\ndef health():\n    return {"ok": True}\n\n\nif __name__',
    )
    app.edit('CURRENCY = "USD"', 'CURRENCY = "GBP"')  # a later save: the route is retried
    wait_for(lambda: app.get(url)["currency"] == "GBP")
    out = app.stop()
    assert "flask_app.py:" in out and "a restart is needed" in out


def test_starlette(run):
    """Starlette under uvicorn, no --reload: the endpoint reloads."""
    app, url = _serve(run, "starlette_app.py", "/stock/apple", "starlette", "uvicorn")
    assert app.get(url) == {"item": "apple", "in_stock": 3, "unit": "crates"}
    app.edit("INVENTORY.get(item, 0)", "INVENTORY.get(item, 0) * 100")
    wait_for(lambda: app.get(url) == {"item": "apple", "in_stock": 300, "unit": "crates"})


def test_starlette_everyday_edits(run):
    """Starlette: a new import, helper, method, constant and route, without a restart."""
    app, url = _serve(run, "starlette_app.py", "/stock/apple", "starlette", "uvicorn")
    app.edit("import argparse\n", "import argparse\nimport json\n")
    app.edit(
        "\n\nSERVICE = StockService()",
        "\n    def doubled(self, item: str) -> int:\n        return 2 * self.count(item)\n"
        '\n\ndef shout(text: str) -> str:\n    return text.upper() + "!"\n'
        "\n\nSERVICE = StockService()",
    )
    app.edit('UNIT = "crates"', 'UNIT = "boxes"')
    app.edit(
        '"unit": UNIT})',
        '"unit": UNIT, "doubled": SERVICE.doubled(item), "shout": json.dumps(shout(item))})',
    )
    wait_for(
        lambda: (
            app.get(url)
            == {"item": "apple", "in_stock": 3, "unit": "boxes", "doubled": 6, "shout": '"APPLE!"'}
        )
    )
    app.edit(
        "\nif __name__",
        "\n\nasync def health(request):\n    return JSONResponse({'ok': True})\n\n\n"
        'app.add_route("/health", health)\n\nif __name__',
    )
    health = url.replace("/stock/apple", "/health")
    wait_for(lambda: app.get(health) == {"ok": True})


def test_multiprocessing_pool(run):
    """A fork Pool's workers run the new code without the pool restarting."""
    app = run("multiprocessing_pool.py")
    lines: list[str] = []

    def saw(text: str) -> bool:
        line = app.process.stdout.readline()
        lines.append(line)
        return text in line

    wait_for(lambda: saw("results: [0, 2, 4, 6]"), timeout=30)
    app.edit("return n * 2", "return n * 10")
    wait_for(lambda: saw("results: [0, 10, 20, 30]"), timeout=30)
    assert sum("pool of 2 workers started" in line for line in lines) == 1


def test_run_mode_under_uvicorn_takes_its_options(tmp_path):
    """python -m hotfunc run -m uvicorn --port N app:app: uvicorn gets its options, and an
    edit to the app's handler shows in the next response."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    shutil.copy(EXAMPLES / "starlette_app.py", tmp_path / "shop.py")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hotfunc", "run", "-m", "uvicorn", "--port", str(port), "shop:app"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/stock/apple"

    def get() -> object:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    try:
        wait_for(lambda: get()["in_stock"] == 3, timeout=30)
        path = tmp_path / "shop.py"
        path.write_text(path.read_text().replace("INVENTORY.get(item, 0)", "-1"))
        wait_for(lambda: get()["in_stock"] == -1)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert "become hot as they are imported" in out


def test_flask_with_its_reloader_on_is_warned_about_once(tmp_path):
    """Flask's debug reloader left on: hotfunc says once which switch turns it off."""
    pytest.importorskip("flask")
    script = tmp_path / "flask_app.py"
    script.write_text(
        (EXAMPLES / "flask_app.py").read_text().replace("use_reloader=False", "use_reloader=True")
    )
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the reloader's child process goes with the group
    )
    url = f"http://127.0.0.1:{port}/user/alice"

    def get() -> object:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())

    try:
        wait_for(lambda: get()["name"] == "alice", timeout=30)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    warnings = [line for line in out.splitlines() if "reloader runs too" in line]
    assert len(warnings) == 1, out
    assert "use_reloader=False" in warnings[0]
