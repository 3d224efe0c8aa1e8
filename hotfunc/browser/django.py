"""Django: ``"hotfunc.browser.django.BrowserMiddleware"`` in ``MIDDLEWARE``.

List it after ``GZipMiddleware`` when the project uses that one: a
compressed page is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _inject
from ._hub import hub
from ._wsgi import _own, _stream


class BrowserMiddleware:
    """Django middleware: pages reload after each save hotfunc applies.

    While hotfunc is not started in the process (or with
    ``HOTFUNC_DISABLE=1``) every request passes through untouched.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if not _inject.active():
            return self.get_response(request)
        path = request.path_info
        if path.startswith(_inject.PREFIX):
            return _response(path)
        response = self.get_response(request)
        if request.method != "GET" or getattr(response, "streaming", True):
            return response
        headers = [(str(name), str(value)) for name, value in response.items()]
        if not _inject.page_headers("GET", response.status_code, headers):
            return response
        root = request.META.get("SCRIPT_NAME", "") or ""
        rewritten = _inject.rewrite(
            response.content, headers, root, hub().stamp, response.status_code
        )
        if rewritten is None:
            return response
        response.content = rewritten[0]
        for name in ("ETag", "Last-Modified", "Content-MD5"):
            if response.has_header(name):
                del response[name]
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(rewritten[0]))
        return response


def _response(path: str) -> Any:
    from django.http import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        HttpResponse,
        StreamingHttpResponse,
    )

    if path == _inject.EVENTS:
        streaming = StreamingHttpResponse(_stream())
        for name, value in _inject.STREAM_HEADERS:
            streaming[name] = value
        return streaming
    status: list[str] = []
    headers: list[tuple[str, str]] = []

    def start(line: str, given: list[tuple[str, str]]) -> Callable[[bytes], object]:
        status.append(line)
        headers.extend(given)
        return lambda data: None

    body = b"".join(_own(path, start))
    response = HttpResponse(body, status=int(status[0].split()[0]))
    for name, value in headers:
        response[name] = value
    return response
