"""Template caches: a saved template must be the one the next render uses.

Jinja2 checks a template's file at each render only with ``auto_reload``
(Flask sets it from debug mode), Django's cached loader keeps a template
until its own autoreloader resets it (not under ``runserver --noreload``),
and tornado's loaders keep theirs unless the application is in debug mode.
Each framework's caches are emptied when a template file changes, for the
frameworks this process imported.
"""

from __future__ import annotations

import gc
import logging
import sys

logger = logging.getLogger("hotfunc")


def clear() -> None:
    """Empty the template caches of every framework imported here; never raise."""
    for clearer in (_jinja2, _django, _tornado):
        try:
            clearer()
        except Exception:  # a framework's internals moved: the page still reloads
            logger.debug("clearing the template caches with %s failed", clearer, exc_info=True)


def _jinja2() -> None:
    jinja2 = sys.modules.get("jinja2")
    if jinja2 is None:
        return
    environment = jinja2.Environment
    for obj in gc.get_objects():
        if isinstance(obj, environment):
            cache = obj.cache
            if cache is not None:
                cache.clear()


def _django() -> None:
    if "django.template" not in sys.modules:
        return
    from django.template import autoreload  # type: ignore[import-not-found,import-untyped,unused-ignore]

    autoreload.reset_loaders()


def _tornado() -> None:
    web = sys.modules.get("tornado.web")
    if web is None:
        return
    loaders = web.RequestHandler._template_loaders
    with web.RequestHandler._template_loader_lock:
        for loader in loaders.values():
            loader.reset()
