"""What a save that rebuilds a base class costs, against one that only swaps a method.

    python bench/cascade.py                # 20 modules of 25 subclasses each
    python bench/cascade.py --modules 40   # a larger hierarchy

A base class in one module has subclasses in many others, two levels deep,
as a model or schema hierarchy has.  Two kinds of save of the base module
alternate: one edits a method's body (swapped in place: the subclasses are
not touched), one changes the class's bases (the class is rebuilt, and with
it every subclass in every module, as a fresh import would build them).  Each
save is applied by ``hotfunc.reload(path)`` on this thread, and timed; the
figures are medians, and the rebuild's ratio to the swap in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

BASE = """
class Marker:
    pass


class Base({bases}):
    def score(self, x):
        return x * {factor}
"""

CHILDREN = """
from base import Base

{classes}
"""

CHILD = """
class Child{m}_{n}(Base):
    def score(self, x):
        return super().score(x) + {n}


class Grandchild{m}_{n}(Child{m}_{n}):
    pass
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=20)
    parser.add_argument("--classes", type=int, default=25, help="subclasses per module")
    parser.add_argument("--saves", type=int, default=10, help="saves of each kind")
    options = parser.parse_args()

    import hotfunc

    root = Path(tempfile.mkdtemp(prefix="hotfunc-cascade-"))
    (root / "base.py").write_text(BASE.format(bases="", factor=1))
    for m in range(options.modules):
        classes = "\n".join(CHILD.format(m=m, n=n) for n in range(options.classes))
        (root / f"children{m}.py").write_text(CHILDREN.format(classes=classes))
    sys.path.insert(0, str(root))
    base = importlib.import_module("base")
    hotfunc.hot(base)
    children = [importlib.import_module(f"children{m}") for m in range(options.modules)]
    for module in children:
        hotfunc.hot(module)
    path = root / "base.py"
    swaps: list[float] = []
    rebuilds: list[float] = []
    for k in range(1, options.saves + 1):
        for kind, times in (("swap", swaps), ("rebuild", rebuilds)):
            bases = "Marker" if (k - (kind == "swap")) % 2 else ""
            path.write_text(BASE.format(bases=bases, factor=k + 1))
            start = time.perf_counter()
            events = hotfunc.reload(str(path))
            times.append(time.perf_counter() - start)
            assert all(e.ok for e in events), [e.error for e in events if not e.ok]
    child = children[-1]
    built = getattr(child, f"Grandchild{options.modules - 1}_0")
    assert built.__mro__[2] is base.Base, "the subclasses were not built on the new base"
    assert built().score(1) == options.saves + 1
    classes = 2 * options.modules * options.classes
    swap, rebuild = statistics.median(swaps), statistics.median(rebuilds)
    print(f"{classes} subclasses in {options.modules} modules")
    print(f"method edited (swapped):        {swap * 1e3:8.1f} ms")
    print(f"bases changed (rebuilt):         {rebuild * 1e3:8.1f} ms ({rebuild / swap:.0f}x)")
    print(f"per subclass rebuilt:            {(rebuild - swap) / classes * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
