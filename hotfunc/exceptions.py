"""Exceptions hotfunc raises."""

from __future__ import annotations


class HotfuncError(Exception):
    """Base class of hotfunc's own errors."""


class ReloadError(HotfuncError):
    """A hot function's last save could not be loaded.

    Raised when the function is called, only with
    ``hotfunc.configure(on_error="raise")``; the message names ``file:line``.
    """
