"""The pages' middlewares: which responses carry the script, and what the stream tells.

The middlewares are called as a server calls them; the hub hears the real
watcher apply real saves.  The browser itself is test_browser.py's.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hotfunc
from hotfunc import _state
from hotfunc.browser import ASGIMiddleware, WSGIMiddleware
from hotfunc.browser._hub import hub
from hotfunc.testing import wait_for, write_source

PAGE = b"<!doctype html><html><head></head><body><h1>hi</h1></body></html>"
HTML = ("Content-Type", "text/html; charset=utf-8")


def _wsgi(
    body: bytes | Iterable[bytes],
    headers: list[tuple[str, str]],
    *,
    method: str = "GET",
    status: str = "200 OK",
    path: str = "/",
) -> tuple[str, dict[str, str], bytes]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(status, headers)
        return [body] if isinstance(body, bytes) else body

    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        got["status"], got["headers"] = status, dict(headers)
        return lambda data: None

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": ""}
    result = WSGIMiddleware(app)(environ, start_response)
    chunks = []
    for chunk in result:
        chunks.append(chunk)
        if path.endswith("events"):
            break  # a stream: its first message is enough
    return got["status"], got["headers"], b"".join(chunks)


def _sized(body: bytes = PAGE) -> list[tuple[str, str]]:
    return [HTML, ("Content-Length", str(len(body)))]


def test_without_start_every_response_passes_untouched() -> None:
    assert _wsgi(PAGE, _sized())[2] == PAGE
    status, _, _ = _wsgi(b"", [("Content-Type", "text/plain")], path="/__hotfunc__/events")
    assert status == "200 OK"  # the application's own answer: the path is not reserved


@pytest.mark.usefixtures("watching")
def test_a_page_gets_the_script_and_its_length() -> None:
    headers = [*_sized(), ("ETag", '"abc"'), ("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")]
    _, sent, body = _wsgi(PAGE, headers)
    assert body.startswith(PAGE[: PAGE.index(b"</body>")])
    assert b'<script id="hotfunc-client" src="/__hotfunc__/client.js"' in body
    assert body.endswith(b"</script></body></html>")
    assert sent["Content-Length"] == str(len(body))
    assert "ETag" not in sent and "Last-Modified" not in sent
    # A page with no Content-Length, as a list: whole too.
    assert b"hotfunc-client" in _wsgi(PAGE, [HTML])[2]


@pytest.mark.usefixtures("watching")
@pytest.mark.parametrize(
    ("what", "body", "headers", "method", "status"),
    [
        ("JSON", b'{"a": 1}', [("Content-Type", "application/json")], "GET", "200 OK"),
        ("a HEAD", PAGE, _sized(), "HEAD", "200 OK"),
        ("a 304", b"", [HTML], "GET", "304 Not Modified"),
        ("a redirect", PAGE, _sized(), "GET", "302 Found"),
        ("a POST", PAGE, _sized(), "POST", "200 OK"),
        ("an attachment", PAGE, [*_sized(), ("Content-Disposition", "attachment")], "GET", "200"),
        ("a fragment", b"<h1>hi</h1>", [HTML], "GET", "200 OK"),
        (
            "gzip",
            gzip.compress(PAGE),
            [HTML, ("Content-Encoding", "gzip")],
            "GET",
            "200 OK",
        ),
    ],
)
def test_what_is_not_a_whole_page_is_left_alone(
    what: str, body: bytes, headers: list[tuple[str, str]], method: str, status: str
) -> None:
    status_sent, sent, got = _wsgi(body, headers, method=method, status=status)
    assert got == body, what
    assert status_sent == status
    assert sent == dict(headers)


@pytest.mark.usefixtures("watching")
def test_a_stream_goes_out_as_it_comes() -> None:
    def parts() -> Iterator[bytes]:
        yield b"<html><body>"
        yield b"</body></html>"

    assert _wsgi(parts(), [HTML])[2] == b"<html><body></body></html>"


@pytest.mark.usefixtures("watching")
def test_a_content_security_policy_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    nonce = [*_sized(), ("Content-Security-Policy", "script-src 'nonce-r4nd0m'")]
    assert b'nonce="r4nd0m"></script>' in _wsgi(PAGE, nonce)[2]
    own = [*_sized(), ("Content-Security-Policy", "default-src 'self'")]
    assert b"hotfunc-client" in _wsgi(PAGE, own)[2]
    with caplog.at_level(logging.INFO, logger="hotfunc"):
        elsewhere = [*_sized(), ("Content-Security-Policy", "script-src https://cdn.example")]
        assert _wsgi(PAGE, elsewhere)[2] == PAGE
        closed = [*_sized(), ("Content-Security-Policy", "default-src 'self'; connect-src 'none'")]
        assert _wsgi(PAGE, closed)[2] == PAGE
    said = [r.getMessage() for r in caplog.records]
    assert any("allows no script of the server's own" in line for line in said), said
    assert any("allows no connection back to the server" in line for line in said), said


@pytest.mark.usefixtures("watching")
def test_the_reserved_paths_are_the_middlewares_own() -> None:
    plain = [("Content-Type", "text/plain")]
    status, headers, body = _wsgi(b"app", plain, path="/__hotfunc__/client.js")
    assert (status, headers["Content-Type"]) == ("200 OK", "text/javascript; charset=utf-8")
    assert b"EventSource" in body
    status, headers, body = _wsgi(b"app", [], path="/__hotfunc__/events")
    assert headers["Content-Type"] == "text/event-stream"
    assert body.startswith(b"retry: 500\ndata: ")
    state = json.loads(body.split(b"data: ", 1)[1])
    assert set(state) == {"stamp", "reload", "failure"}
    assert _wsgi(b"app", [], path="/__hotfunc__/other")[0] == "404 Not Found"


def _asgi(
    body: bytes, headers: list[tuple[str, str]], *, more: bool = False
) -> list[dict[str, Any]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raw = [(n.lower().encode(), v.encode()) for n, v in headers]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        if more:
            await send({"type": "http.response.body", "body": body[:5], "more_body": True})
            body_rest = body[5:]
        else:
            body_rest = body
        await send({"type": "http.response.body", "body": body_rest})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "root_path": ""}
    asyncio.run(ASGIMiddleware(app)(scope, receive, send))
    return sent


@pytest.mark.usefixtures("watching")
def test_asgi_pages_get_the_script_and_streams_pass() -> None:
    start, end = _asgi(PAGE, _sized())
    body = end["body"]
    assert b"hotfunc-client" in body
    assert (b"content-length", str(len(body)).encode()) in start["headers"]
    # A body in parts with no length: a stream, sent as it came.
    sent = _asgi(PAGE, [HTML], more=True)
    assert b"".join(m.get("body", b"") for m in sent) == PAGE
    assert _asgi(b'{"a": 1}', [("Content-Type", "application/json")])[1]["body"] == b'{"a": 1}'


@pytest.fixture
def pages(project: Any, tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    module = project.load("def message():\n    return 'one'\n", name="pages_view")
    hotfunc.hot(module)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "site.css").write_text("h1 {}\n")
    hotfunc.start()
    try:
        yield module, tmp_path
    finally:
        hotfunc.stop()


def test_the_hub_tells_a_failed_save_and_its_fix(pages: tuple[Any, Path]) -> None:
    module, _ = pages
    hub_ = hub()
    first = hub_.state()
    path = Path(module.__file__)
    write_source(path, "def message():\n    return 'two'\n")
    wait_for(lambda: hub_.state()["reload"] != first["reload"])
    assert module.message() == "two"

    write_source(path, "def message(:\n    return 'three'\n")
    wait_for(lambda: hub_.state()["failure"] is not None)
    state = hub_.state()
    assert state["failure"] == {
        "file": str(path),
        "line": 1,
        "code": "def message(:",
        "message": state["failure"]["message"],  # type: ignore[index]
        "kind": "save",
    }
    assert f"{path}:1" in state["failure"]["message"]  # type: ignore[index]

    write_source(path, "def message():\n    return 'three'\n")
    wait_for(lambda: hub_.state()["failure"] is None)
    assert hub_.state()["reload"] > state["reload"]  # type: ignore[operator]


def test_a_stylesheet_alone_changes_the_stamp_not_the_reload(pages: tuple[Any, Path]) -> None:
    _, root = pages
    hub_ = hub()
    before = hub_.state()
    (root / "static" / "site.css").write_text("h1 { color: red; }\n")
    wait_for(lambda: hub_.state()["stamp"] != before["stamp"])
    assert hub_.state()["reload"] == before["reload"]
    assert str(root / "static") in _state.watcher.watched_folders  # type: ignore[union-attr]


def test_a_saved_jinja_template_renders_anew(tmp_path: Path) -> None:
    jinja2 = pytest.importorskip("jinja2")
    from hotfunc.browser import _templates

    (tmp_path / "page.html").write_text("one")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), auto_reload=False)
    assert environment.get_template("page.html").render() == "one"
    (tmp_path / "page.html").write_text("two")
    assert environment.get_template("page.html").render() == "one"  # the cache, as Flask's
    _templates.clear()
    assert environment.get_template("page.html").render() == "two"


DJANGO_CHECK = """
import django
from django.conf import settings

settings.configure(
    DEBUG=True,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["hotfunc.browser.django.BrowserMiddleware"],
)
django.setup()

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import Client
from django.urls import path

import hotfunc

PAGE = "<!doctype html><html><body><h1>hi</h1></body></html>"
urlpatterns = [
    path("", lambda request: HttpResponse(PAGE)),
    path("json", lambda request: JsonResponse({"a": 1})),
    path("stream", lambda request: StreamingHttpResponse(iter([PAGE]))),
]
client = Client()
assert client.get("/").content.decode() == PAGE  # not started: untouched
hotfunc.start()
page = client.get("/")
assert b'<script id="hotfunc-client"' in page.content, page.content
assert client.get("/json").content == b'{"a": 1}'
assert b"".join(client.get("/stream").streaming_content).decode() == PAGE
assert client.get("/__hotfunc__/client.js").content.startswith(b"// hotfunc")
events = client.get("/__hotfunc__/events")
assert events["Content-Type"] == "text/event-stream"
assert next(iter(events.streaming_content)).startswith(b"retry: 500")
hotfunc.stop()
print("ok")
"""


def test_the_django_middleware(tmp_path: Path) -> None:
    pytest.importorskip("django")
    script = tmp_path / "check.py"
    script.write_text(DJANGO_CHECK)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
