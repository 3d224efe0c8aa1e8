"""The registry never keeps a function alive."""

from __future__ import annotations

import gc
import weakref

import hotfunc
from hotfunc.core import _registry as core_registry
from hotfunc.core import _sourcefile

FACTORY = """
from hotfunc import hot
def make(n):
    @hot
    def inner():
        return n
    return inner
"""


def test_ten_thousand_dropped_closures_are_collected(project):
    """10,000 hot closures dropped by their owner are freed, and their entry goes with them."""
    mod = project.load(FACTORY)
    made = [mod.make(n) for n in range(10_000)]
    refs = [weakref.ref(f) for f in made]
    assert len(hotfunc.registry) == 1
    assert len(hotfunc.registry[made[0]].functions) == 10_000
    del made
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(hotfunc.registry) == 0


def test_entries_of_dead_functions_are_pruned(project):
    """Entries of collected functions leave the registry, and live ones stay."""
    mod = project.load(FACTORY + "\n@hot\ndef keep():\n    return 1\n")
    inner = mod.make(1)
    entry_ref = weakref.ref(hotfunc.registry[inner])
    assert len(hotfunc.registry) == 2
    del inner
    gc.collect()
    assert [e.qualname for e in hotfunc.registry] == ["keep"]
    gc.collect()
    assert entry_ref() is None


def test_a_factory_in_a_loop_does_not_grow_the_entry(project):
    """Making and dropping closures forever keeps the entry's list of references bounded."""
    mod = project.load(FACTORY)
    keep = mod.make(0)
    for n in range(5_000):
        mod.make(n)
    entry = hotfunc.registry[keep]
    assert len(entry._refs) < 64
    assert entry.functions == [keep]


def test_the_imported_text_is_compressed_once_the_imports_are_over(project, wait, monkeypatch):
    """The text a file had at import is kept for its first edit, compressed on a thread
    of hotfunc's own soon after; that edit then applies as any other."""
    monkeypatch.setattr(core_registry, "COMPRESS_AFTER", 0.05)
    source = "from hotfunc import hot\n" + "".join(
        f"@hot\ndef f{i}():\n    return {{v{i}}}\n" for i in range(200)
    )
    values = {f"v{i}": i for i in range(200)}
    mod = project.load(source.format(**values))
    (hot_file,) = hotfunc.registry.sources_at(mod.__file__)
    wait(lambda: isinstance(hot_file.imported, _sourcefile._Compressed))
    assert len(hot_file.imported.data) < len(source) / 2
    values["v100"] = -1
    project.edit(mod, source.format(**values))
    hotfunc.reload()
    assert mod.f100() == -1 and mod.f99() == 99
