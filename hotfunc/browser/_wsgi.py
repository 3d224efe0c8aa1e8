"""The WSGI middleware: the page's script in each HTML page, and the stream of saves."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _inject
from ._hub import hub

logger = logging.getLogger("hotfunc")

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Seconds between two comments on an idle stream: a closed page is noticed.
PING = 15.0


class WSGIMiddleware:
    """Wraps a WSGI application: its pages reload after each save hotfunc applies.

    While hotfunc is not started here (or ``HOTFUNC_DISABLE=1``) every request
    passes through untouched.  The stream holds a server thread per open
    page: a threaded server (Flask's, Django's ``runserver``) is needed.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not _inject.active():
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path.startswith(_inject.PREFIX):
            return _own(path, start_response)
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        return _Page(environ, start_response).run(self.app)


class _Page:
    """One response, held back until it is known whether it is a page to rewrite."""

    def __init__(self, environ: dict[str, Any], start_response: StartResponse) -> None:
        self.environ = environ
        self.start_response = start_response
        self.started: tuple[str, list[tuple[str, str]], Any] | None = None
        self.passed = False
        self.written: list[bytes] = []

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        code = int(status.split(" ", 1)[0]) if status[:3].isdigit() else 0
        if _inject.page_headers("GET", code, headers):
            self.started = (status, headers, exc_info)
            self.passed = False
            return self.written.append
        self.passed = True
        return self.start_response(status, headers, exc_info)

    def run(self, app: WSGIApp) -> Iterable[bytes]:
        result = app(self.environ, self.start)
        if self.passed:
            return result
        chunks = iter(result)
        first: list[bytes] = []
        if self.started is None:  # start_response comes with the first chunk
            first = [next(chunks, b"")]
            if self.passed:
                return _chained(first, chunks, result)
        if self.started is None:
            return _chained(first, chunks, result)
        status, headers, exc_info = self.started
        full = isinstance(result, list | tuple) or getattr(result, "streaming", None) is False
        if not full and not any(n.lower() == "content-length" for n, _ in headers):
            # A stream (a generator of parts): it goes out as it comes.
            write = self.start_response(status, headers, exc_info)
            for part in self.written:
                write(part)
            return _chained(first, chunks, result)
        try:
            body = b"".join([*self.written, *first, *chunks])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        root = self.environ.get("SCRIPT_NAME", "")
        code = int(status.split(" ", 1)[0]) if status[:3].isdigit() else 200
        rewritten = _inject.rewrite(body, headers, root, hub().stamp, code)
        if rewritten is not None:
            body, headers = rewritten
        self.start_response(status, headers, exc_info)
        return [body]


def _chained(first: list[bytes], rest: Iterator[bytes], result: Iterable[bytes]) -> Iterable[bytes]:
    try:
        yield from first
        yield from rest
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _own(path: str, start_response: StartResponse) -> Iterable[bytes]:
    if path == _inject.SCRIPT:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/javascript; charset=utf-8"),
                ("Content-Length", str(len(_inject.CLIENT))),
                ("Cache-Control", "no-cache"),
            ],
        )
        return [_inject.CLIENT]
    if path == _inject.EVENTS:
        start_response("200 OK", list(_inject.STREAM_HEADERS))
        return _stream()
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"hotfunc serves {_inject.SCRIPT} and {_inject.EVENTS} here, not {path}\n".encode()]


def _stream() -> Iterator[bytes]:
    pages = hub()
    generation = pages.generation
    yield f"retry: 500\n{pages.message()}".encode()
    while not pages.closed:
        now = pages.wait(generation, PING)
        if pages.closed:
            return
        yield pages.message().encode() if now != generation else b": ping\n\n"
        generation = now
