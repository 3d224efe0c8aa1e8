"""``run --browser``: the development servers wrap their application in the middleware.

Each server is patched where it takes the application, when its module is
imported (or now, if it was): werkzeug's server (Flask's ``flask run`` and
``app.run()``), the standard library's ``wsgiref`` server (Django's
``runserver``), uvicorn's ``Config.load`` (in each ``--workers`` process
too, since they follow this one), and tornado's ``Application`` and
``RequestHandler.finish``.  Any other server runs the application as it is;
the middlewares can wrap it in code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from . import _inject
from ._asgi import ASGIMiddleware
from ._hub import end_streams_at_exit, hub
from ._wsgi import PING, WSGIMiddleware

logger = logging.getLogger("hotfunc")

#: The processes of ``run --browser`` carry it, so its workers patch their servers too.
ENV = "HOTFUNC_BROWSER"


def install() -> None:
    """Patch the servers imported already, and each one as it is imported."""
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            _apply(patch, module)
    if not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())


def _apply(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    if getattr(module, "__hotfunc_browser__", False):
        return
    try:
        patch(module)
        module.__hotfunc_browser__ = True  # type: ignore[attr-defined]
    except Exception:  # a server whose internals moved: it runs without the pages' script
        logger.warning("cannot add the pages' live reload to %s", module.__name__, exc_info=True)


def _werkzeug(module: ModuleType) -> None:
    server = module.BaseWSGIServer
    original = server.__init__

    def __init__(self: Any, host: str, port: int, app: Any, *args: Any, **kwargs: Any) -> None:
        original(self, host, port, WSGIMiddleware(app), *args, **kwargs)

    server.__init__ = __init__


def _wsgiref(module: ModuleType) -> None:
    server = module.WSGIServer
    original = server.set_app

    def set_app(self: Any, application: Any) -> None:
        original(self, WSGIMiddleware(application))

    server.set_app = set_app


def _uvicorn(module: ModuleType) -> None:
    config = module.Config
    original = config.load

    def load(self: Any) -> None:
        original(self)
        if not isinstance(self.loaded_app, ASGIMiddleware):
            self.loaded_app = ASGIMiddleware(self.loaded_app)

    config.load = load


def _tornado(module: ModuleType) -> None:
    application = module.Application
    handler = module.RequestHandler
    events, script = _tornado_handlers(module)
    original_init = application.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.add_handlers(r".*$", [(_inject.EVENTS, events), (_inject.SCRIPT, script)])

    application.__init__ = __init__
    original_finish = handler.finish

    def finish(self: Any, chunk: Any = None) -> Any:
        if _inject.active() and not self._finished and not self._headers_written:
            if chunk is not None:
                self.write(chunk)
                chunk = None
            _rewrite_tornado(self)
        return original_finish(self, chunk)

    handler.finish = finish


def _rewrite_tornado(handler: Any) -> None:
    headers = list(handler._headers.get_all())
    if not _inject.page_headers(handler.request.method, handler._status_code, headers):
        return
    body = b"".join(handler._write_buffer)
    rewritten = _inject.rewrite(body, headers, "", hub().stamp, handler._status_code)
    if rewritten is None:
        return
    body, _ = rewritten
    handler._write_buffer = [body]
    for name in ("Etag", "Last-Modified", "Content-Md5"):
        handler.clear_header(name)
    if "Content-Length" in handler._headers:
        handler.set_header("Content-Length", len(body))


def _tornado_handlers(web: ModuleType) -> tuple[type, type]:
    from tornado.iostream import StreamClosedError  # type: ignore[import-not-found,unused-ignore]

    class Events(web.RequestHandler):  # type: ignore[misc,name-defined]
        async def get(self) -> None:
            for name, value in _inject.STREAM_HEADERS:
                self.set_header(name, value)
            pages = hub()
            loop = asyncio.get_running_loop()
            self.woken = woken = asyncio.Event()

            def wake() -> None:
                loop.call_soon_threadsafe(woken.set)

            pages.listen(wake)
            try:
                generation = pages.generation
                self.write(f"retry: 500\n{pages.message()}")
                await self.flush()
                while not pages.closed and not self.request.connection.stream.closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), PING)
                    woken.clear()
                    now = pages.generation
                    self.write(pages.message() if now != generation else ": ping\n\n")
                    generation = now
                    await self.flush()
            except StreamClosedError:
                pass
            finally:
                pages.unlisten(wake)

        def on_connection_close(self) -> None:
            woken = getattr(self, "woken", None)
            if woken is not None:
                woken.set()

    class Script(web.RequestHandler):  # type: ignore[misc,name-defined]
        def get(self) -> None:
            self.set_header("Content-Type", "text/javascript; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.write(_inject.CLIENT)

    return Events, Script


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "werkzeug.serving": _werkzeug,
    "wsgiref.simple_server": _wsgiref,
    "uvicorn.config": _uvicorn,
    "uvicorn.server": end_streams_at_exit,
    "tornado.web": _tornado,
}


class _AfterImport:
    """Patches a server's module right after it is imported; finds nothing itself."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        # The servers are plain files on the path: no other finder is asked,
        # so finders that ask the others (hotfunc's own) never loop.
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Patching(spec.loader, patch)  # type: ignore[assignment]
        return spec


class _Patching:
    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _apply(self._patch, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
