"""Pages that follow the saves: each HTML page reloads itself after a save hotfunc applied.

A middleware puts a small script (``client.js``) in each HTML page its
application serves, and serves, on the reserved path ``/__hotfunc__/``, a
stream of server-sent events that tells each open page of every save:

- a save of Python code or of a template: the page reloads;
- a save of stylesheets alone: they are swapped in place, with no reload;
- a save that failed: an overlay gives hotfunc's message, ``file:line`` and
  the line of code, and the page waits for the fix, which reloads it.

``python -m hotfunc run --browser`` wraps the applications of the usual
development servers itself (``_servers``); in code, wrap the application in
:class:`WSGIMiddleware` or :class:`ASGIMiddleware`, or list
``"hotfunc.browser.django.BrowserMiddleware"`` in Django's ``MIDDLEWARE``.
All three pass every request through untouched while hotfunc is not started
in the process (or with ``HOTFUNC_DISABLE=1``).
"""

from __future__ import annotations

from ._asgi import ASGIMiddleware
from ._wsgi import WSGIMiddleware

__all__ = ["ASGIMiddleware", "WSGIMiddleware"]
