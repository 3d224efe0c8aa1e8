"""Generated source files and the latency probe shared by every benchmark case."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# Lines per generated function: decorator, def, docstring, 6 body lines, blank.
FUNC_LINES = 10


def function_source(index: int, value: int, decorator: str) -> str:
    """One function of FUNC_LINES lines that returns ``value``."""
    head = f"{decorator}\n" if decorator else ""
    body = (
        f"def func_{index}(x=1):\n"
        f'    """Function number {index}."""\n'
        f"    a = x + {index}\n"
        f"    b = a * 2\n"
        f"    c = [a, b]\n"
        f"    d = {{'a': a, 'b': b}}\n"
        f"    e = len(c) + len(d)\n"
        f"    return {value}\n"
    )
    text = head + body
    if not decorator:
        text = "\n" + text  # keep every function FUNC_LINES long
    return text + "\n"


def module_source(
    functions: int, values: dict[int, int] | None = None, *, header: str = "", decorator: str = ""
) -> str:
    """A module of ``functions`` generated functions; ``values`` overrides return values."""
    values = values or {}
    parts = [header] + [function_source(i, values.get(i, 0), decorator) for i in range(functions)]
    return "".join(parts)


def functions_for_lines(lines: int) -> int:
    """How many generated functions make a file of about ``lines`` lines."""
    return max(1, lines // FUNC_LINES)


def write(path: Path, text: str) -> None:
    """Write in place and close: the moment a save completes."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def probe_latency(
    probe: Callable[[], object],
    expected: object,
    started: float,
    *,
    sleep: float = 0.0,
    timeout: float = 10.0,
) -> float | None:
    """Seconds from ``started`` until ``probe()`` returns ``expected``, or None.

    With ``sleep`` 0 the caller spins, as a busy server thread would; otherwise
    it sleeps between calls, as an idle one would.
    """
    while True:
        if probe() == expected:
            return time.perf_counter() - started
        now = time.perf_counter()
        if now - started > timeout:
            return None
        if sleep:
            time.sleep(sleep)


def make_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cpu_seconds() -> float:
    """CPU time of this process, all threads, to the nanosecond.

    Not ``os.times()``: it counts clock ticks (10 ms here), coarser than the
    idle cost it measures.
    """
    return time.process_time()
