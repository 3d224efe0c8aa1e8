"""The ASGI middleware: the page's script in each HTML page, and the stream of saves."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import _inject
from ._hub import end_streams_at_exit, hub

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PING = 15.0


class ASGIMiddleware:
    """Wraps an ASGI application: its pages reload after each save hotfunc applies.

    While hotfunc is not started here (or ``HOTFUNC_DISABLE=1``) every
    request passes through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not _inject.active():
            return await self.app(scope, receive, send)
        root = scope.get("root_path", "") or ""
        path = scope.get("path", "") or ""
        own = path.removeprefix(root) if root and path.startswith(root) else path
        if own.startswith(_inject.PREFIX):
            return await _own(own, receive, send)
        if scope.get("method") != "GET":
            return await self.app(scope, receive, send)
        page = _Page(send, root)
        await self.app(scope, receive, page.send)
        await page.flush()


class _Page:
    """One response, held back until it is known whether it is a page to rewrite."""

    def __init__(self, send: Send, root: str) -> None:
        self._send = send
        self._root = root
        self._start: Message | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._passing = False

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if self._passing:
            return await self._send(message)
        if kind == "http.response.start":
            headers = [
                (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                for n, v in message.get("headers", ())
            ]
            status = int(message.get("status", 200))
            if _inject.page_headers("GET", status, headers):
                self._start, self._headers = message, headers
                return None
            self._passing = True
            return await self._send(message)
        if kind == "http.response.body" and self._start is not None:
            self._chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                return await self._rewrite()
            sized = any(n.lower() == "content-length" for n, _ in self._headers)
            if not sized or sum(map(len, self._chunks)) > _inject.LIMIT:
                # A stream: what came so far goes out, and the rest as it comes.
                await self._pass()
            return None
        if self._start is not None:  # a file sent by path, trailers: as they were
            await self._pass()
        return await self._send(message)

    async def _pass(self) -> None:
        start, self._start = self._start, None
        self._passing = True
        if start is not None:
            await self._send(start)
            await self._send(
                {"type": "http.response.body", "body": b"".join(self._chunks), "more_body": True}
            )
        self._chunks = []

    async def _rewrite(self) -> None:
        start, self._start = self._start, None
        assert start is not None
        body = b"".join(self._chunks)
        self._chunks = []
        rewritten = _inject.rewrite(
            body, self._headers, self._root, hub().stamp, int(start.get("status", 200))
        )
        if rewritten is not None:
            body, headers = rewritten
            start = {
                **start,
                "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            }
        self._passing = True
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def flush(self) -> None:
        """The application returned with a page held back and unfinished: send what it sent."""
        if self._start is not None:
            await self._rewrite()


async def _own(path: str, receive: Receive, send: Send) -> None:
    if path == _inject.SCRIPT:
        headers = [
            (b"content-type", b"text/javascript; charset=utf-8"),
            (b"content-length", str(len(_inject.CLIENT)).encode()),
            (b"cache-control", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _inject.CLIENT})
        return
    if path == _inject.EVENTS:
        await _stream(receive, send)
        return
    text = f"hotfunc serves {_inject.SCRIPT} and {_inject.EVENTS} here, not {path}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text})


async def _stream(receive: Receive, send: Send) -> None:
    pages = hub()
    _end_with_uvicorn()
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:
        loop.call_soon_threadsafe(woken.set)

    pages.listen(wake)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        headers = [(n.lower().encode(), v.encode()) for n, v in _inject.STREAM_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        generation = pages.generation
        first = f"retry: 500\n{pages.message()}".encode()
        await send({"type": "http.response.body", "body": first, "more_body": True})
        while not pages.closed:
            waiting = asyncio.ensure_future(woken.wait())
            done, _ = await asyncio.wait(
                {waiting, gone}, timeout=PING, return_when=asyncio.FIRST_COMPLETED
            )
            waiting.cancel()
            if gone in done or pages.closed:
                break
            woken.clear()
            now = pages.generation
            body = pages.message().encode() if now != generation else b": ping\n\n"
            generation = now
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the page went away as it was written to
        pass
    finally:
        pages.unlisten(wake)
        gone.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive()).get("type") != "http.disconnect":
        pass


def _end_with_uvicorn() -> None:
    """Make uvicorn's shutdown end the streams: it waits for open responses to finish."""
    server = sys.modules.get("uvicorn.server")
    if server is not None:
        end_streams_at_exit(server)
