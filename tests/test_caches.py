"""functools caches around a hot function are cleared when it is swapped."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("watching")

SOURCE = """
import functools
from hotfunc import hot

@functools.lru_cache(maxsize=None)
@hot
def cache_outside(x):
    return x * {k}

@hot
@functools.cache
def hot_outside(x):
    return x * {k}

class C:
    @staticmethod
    @functools.lru_cache
    @hot
    def static(x):
        return x * {k}

    @functools.cache
    @hot
    def method(self, x):
        return x * {k}
"""


def test_stale_results_are_never_served(project, wait):
    """lru_cache and cache results computed by the old code are dropped at the swap."""
    mod = project.load(SOURCE.format(k=1))
    obj = mod.C()
    calls = [
        lambda: mod.cache_outside(5),
        lambda: mod.hot_outside(5),
        lambda: mod.C.static(5),
        lambda: obj.method(5),
    ]
    assert [c() for c in calls] == [5, 5, 5, 5]  # now cached
    project.edit(mod, SOURCE.format(k=10))
    wait(lambda: [c() for c in calls] == [50, 50, 50, 50])
    assert mod.cache_outside.cache_info().currsize == 1
