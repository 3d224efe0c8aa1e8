"""Which responses carry the page's script, and the script tag itself.

Only a whole HTML document the browser shows is touched: a ``GET``, with a
status that has a page (2xx but 204 and 206, 4xx, 5xx), ``text/html``, not
an attachment, not compressed, and whose body has a ``</body>`` or
``</html>``.  Its length is set again, and its validators (``ETag``,
``Last-Modified``) are dropped: a browser that revalidated the page later
would show the copy it kept, with the script of another time.

A Content-Security-Policy decides how the script may load.  The script is a
file of the server's own origin, which ``'self'`` allows; a nonce the policy
gives is put on the tag; a policy that allows neither, or no connection
back to the server, leaves the page alone, and one log line says why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

from .. import _state

logger = logging.getLogger("hotfunc")

#: The reserved paths, served by the middleware itself.
PREFIX = "/__hotfunc__/"
EVENTS = PREFIX + "events"
SCRIPT = PREFIX + "client.js"

#: The headers of the stream of saves.
STREAM_HEADERS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)

#: The largest body held to be rewritten; a larger page passes untouched.
LIMIT = 8 * 1024 * 1024

CLIENT = (Path(__file__).parent / "client.js").read_bytes()

_said: set[str] = set()


def active() -> bool:
    """Whether pages follow the saves: hotfunc was started here, or this process follows
    one that was (a server's worker, whose watcher starts with its first hot module), and
    is not disabled."""
    started = _state.watcher is not None or _state.leader is not None
    return started and not _state.settings.disabled


def page_headers(method: str, status: int, headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a response with these may be a page to rewrite (its body decides the rest)."""
    if method != "GET" or not ((200 <= status < 300 and status not in (204, 206)) or status >= 400):
        return False
    fields = {name.lower(): value for name, value in headers}
    return (
        fields.get("content-type", "").lower().startswith("text/html")
        and "attachment" not in fields.get("content-disposition", "").lower()
        and fields.get("content-encoding", "identity").lower() in ("", "identity")
        and int(fields.get("content-length", "0") or 0) <= LIMIT
    )


def rewrite(
    body: bytes, headers: list[tuple[str, str]], root: str, stamp: int, status: int = 200
) -> tuple[bytes, list[tuple[str, str]]] | None:
    """The page with its script and the headers to send with it; None to leave it alone.

    An error page (5xx) says so to the script, which shows on it a request
    that raised in code the last save changed.
    """
    lower = body.lower()
    at = lower.rfind(b"</body>")
    if at < 0:
        at = lower.rfind(b"</html>")
    if at < 0 and lower.lstrip().startswith((b"<!doctype html", b"<html")):
        at = len(body)  # a whole document that leaves its end tags out (werkzeug's errors)
    if at < 0 or b'id="hotfunc-client"' in body:
        return None
    nonce = _nonce(headers)
    if nonce is None:
        return None
    tag = (
        f'<script id="hotfunc-client" src="{root}{SCRIPT}" data-stamp="{stamp}" '
        f'data-events="{root}{EVENTS}"{" data-error" if status >= 500 else ""}{nonce}></script>'
    ).encode()
    page = body[:at] + tag + body[at:]
    kept = [
        (name, value)
        for name, value in headers
        if name.lower() not in ("content-length", "etag", "last-modified", "content-md5")
    ]
    kept.append(("Content-Length", str(len(page))))
    return page, kept


_DIRECTIVE = re.compile(r"\s*([\w-]+)\s*([^;]*)")


def _nonce(headers: list[tuple[str, str]]) -> str | None:
    """The nonce attribute the policies ask of the script (often ``""``); None if they forbid it."""
    attribute = ""
    for name, value in headers:
        if name.lower() != "content-security-policy":
            continue
        directives: dict[str, list[str]] = {}
        for part in value.split(";"):
            match = _DIRECTIVE.match(part)
            if match:
                directives.setdefault(match.group(1).lower(), match.group(2).split())
        default = directives.get("default-src")
        scripts = directives.get("script-src-elem", directives.get("script-src", default))
        connects = directives.get("connect-src", default)
        if connects is not None and not _allows_self(connects):
            _say("its Content-Security-Policy allows no connection back to the server")
            return None
        if scripts is None:
            continue
        nonces = [s[7:-1] for s in scripts if s.startswith("'nonce-") and s.endswith("'")]
        if nonces:
            attribute = f' nonce="{nonces[0]}"'
        elif "'strict-dynamic'" in scripts or not _allows_self(scripts):
            _say("its Content-Security-Policy allows no script of the server's own")
            return None
    return attribute


def _allows_self(sources: list[str]) -> bool:
    return "'none'" not in sources and any(s in ("'self'", "*", "http:", "https:") for s in sources)


def _say(why: str) -> None:
    if why not in _said:
        _said.add(why)
        logger.info("a page is left without its live-reload script: %s", why)
