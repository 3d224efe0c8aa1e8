"""The approach of the blog post hotfunc started from, rewritten for Python 3.

Every call re-reads the function's source, drops the decorator line, renames
the function, executes the definition in the module's globals and calls the
result.  Kept only as a benchmark baseline for the cost per call.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import textwrap
from collections.abc import Callable
from typing import Any


def realtimefunc(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        filename = inspect.getsourcefile(func) or ""
        linecache.checkcache(filename)
        lines = inspect.getsource(func).splitlines(keepends=True)
        source = textwrap.dedent("".join(line for line in lines if "@realtimefunc" not in line))
        name = func.__name__
        source = source.replace(f"def {name}(", f"def {name}_runtime(", 1)
        exec(compile(source, filename, "exec"), func.__globals__)
        return func.__globals__[f"{name}_runtime"](*args, **kwargs)

    return wrapper
