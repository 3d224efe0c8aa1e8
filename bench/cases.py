"""One benchmark case for one tool, in this fresh process; prints a JSON result.

Usage: python bench/cases.py CASE TOOL '{"param": ...}'
"""

from __future__ import annotations

import gc
import importlib
import json
import re
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

# -- tools ---------------------------------------------------------------------


class Tool:
    """How one reloader is set up around a generated module."""

    header = ""
    decorator = ""

    def start(self, folder: Path) -> None:
        pass

    def probe(self, module: ModuleType, name: str) -> Any:
        return getattr(module, name)()

    def stop(self) -> None:
        pass


class Hotfunc(Tool):
    header = "from hotfunc import hot\n"
    decorator = "@hot"

    def start(self, folder: Path) -> None:
        import logging

        import hotfunc

        # One INFO line per swap goes to stderr otherwise; the peers print nothing.
        hotfunc.configure(level=logging.WARNING)
        hotfunc.start()

    def stop(self) -> None:
        import hotfunc

        hotfunc.stop()


class Jurigged(Tool):
    def start(self, folder: Path) -> None:
        import jurigged

        self.watcher = jurigged.watch(str(folder / "*.py"), logger=lambda *a, **k: None)

    def stop(self) -> None:
        self.watcher.stop()


class IPythonAutoreload(Tool):
    """IPython's autoreload, asked to check once per probe, as %autoreload does per cell."""

    def start(self, folder: Path) -> None:
        from IPython.extensions.autoreload import ModuleReloader

        self.reloader = ModuleReloader()
        self.reloader.check_all = True
        self.reloader.enabled = True
        self.reloader.check()  # record modification times

    def probe(self, module: ModuleType, name: str) -> Any:
        self.reloader.check()
        return getattr(module, name)()


class Reloading(Tool):
    header = "from reloading import reloading\n"
    decorator = "@reloading"


class WatchdogBare(Tool):
    """The floor: a bare watchdog handler that recompiles the file and swaps every function."""

    def start(self, folder: Path) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        modules = self.modules

        class Handler(FileSystemEventHandler):
            def on_closed(self, event: Any) -> None:
                module = modules.get(event.src_path)
                if module is None:
                    return
                with open(event.src_path, encoding="utf-8") as fh:
                    code = compile(fh.read(), event.src_path, "exec")
                namespace: dict[str, Any] = {}
                exec(code, namespace)
                for key, value in namespace.items():
                    old = getattr(module, key, None)
                    if hasattr(old, "__code__") and hasattr(value, "__code__"):
                        old.__code__ = value.__code__

        self.observer = Observer()
        self.observer.schedule(Handler(), str(folder))
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join()


TOOLS = {
    "hotfunc": Hotfunc,
    "watchdog-bare": WatchdogBare,
    "jurigged": Jurigged,
    "ipython": IPythonAutoreload,
    "reloading": Reloading,
}

# -- helpers -------------------------------------------------------------------

WRITER = """
import mmap, struct, sys, time
shm, request = sys.argv[1], sys.argv[2]
with open(shm, "r+b") as fh:
    mm = mmap.mmap(fh.fileno(), 16)
last = 0
while True:
    seq = struct.unpack_from("q", mm, 0)[0]
    if seq == last:
        time.sleep(0.0001)
        continue
    if seq < 0:
        break
    with open(request, encoding="utf-8") as fh:
        target, text = fh.read().split("\\0", 1)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    struct.pack_into("q", mm, 8, seq)
    last = seq
"""


class ExternalWriter:
    """An editor in another process: saves on request, then flags it in shared memory.

    The caller spins on the flag without releasing the GIL, so nothing in
    this process gets a head start from the save's system calls.
    """

    def __init__(self) -> None:
        import mmap

        folder = Path(tempfile.mkdtemp(prefix="hotfunc-writer-"))
        self.request = folder / "request"
        shm = folder / "shm"
        shm.write_bytes(bytes(16))
        self._file = open(shm, "r+b")  # noqa: SIM115  # lives as long as the writer
        self.mm = mmap.mmap(self._file.fileno(), 16)
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, str(shm), str(self.request)])
        self.seq = 0

    def write(self, path: Path, text: str) -> None:
        import struct

        self.seq += 1
        self.request.write_text(f"{path}\0{text}", encoding="utf-8")
        struct.pack_into("q", self.mm, 0, self.seq)
        while struct.unpack_from("q", self.mm, 8)[0] != self.seq:
            pass

    def close(self) -> None:
        import struct

        struct.pack_into("q", self.mm, 0, -1)
        self.proc.wait(10)


def _load(folder: Path, name: str) -> ModuleType:
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95), "n": len(ordered)}


def _edit_loop(
    tool: Tool,
    files: list[tuple[Path, ModuleType, int]],
    target: int,
    edits: int,
    sleep: float,
    writer: ExternalWriter | None = None,
) -> dict[str, Any]:
    """Edit one function ``edits`` times; measure save-to-new-result latency."""
    path, module, functions = files[target]
    index = functions // 2
    name = f"func_{index}"
    latencies: list[float] = []
    misses = 0
    write = writer.write if writer is not None else workload.write
    for edit in range(1, edits + 1):
        value = edit * 7
        text = workload.module_source(
            functions, {index: value}, header=tool.header, decorator=tool.decorator
        )
        write(path, text)
        started = time.perf_counter()
        latency = workload.probe_latency(
            lambda: tool.probe(module, name), value, started, sleep=sleep
        )
        if latency is None:
            misses += 1
        else:
            latencies.append(latency)
        time.sleep(0.02)  # let the previous save's events drain
    result: dict[str, Any] = _percentiles(latencies) if latencies else {}
    result["misses"] = misses
    return result


def _make_files(
    tool: Tool, folder: Path, count: int, functions: int
) -> list[tuple[Path, ModuleType, int]]:
    files = []
    for number in range(count):
        name = f"bench_mod_{number}"
        path = folder / f"{name}.py"
        text = workload.module_source(functions, header=tool.header, decorator=tool.decorator)
        workload.write(path, text)
        files.append((path, name))
    loaded = []
    for path, name in files:
        loaded.append((path, _load(folder, name), functions))
    return loaded


# -- cases ---------------------------------------------------------------------


def case_reload(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Latency from a completed save to the first call that returns the new value."""
    tool = TOOLS[tool_name]()
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    keep = None
    if params.get("heap_objects"):
        keep = [(i,) for i in range(params["heap_objects"])]
    files = _make_files(tool, folder, params.get("files", 1), params.get("functions", 1))
    tool.modules = {str(p): m for p, m, _ in files}  # type: ignore[attr-defined]
    writer = ExternalWriter() if params.get("writer") == "process" else None
    tool.start(folder)
    time.sleep(0.2)
    try:
        result = _edit_loop(
            tool,
            files,
            len(files) // 2,
            params.get("edits", 20),
            params.get("sleep", 0.0),
            writer,
        )
    finally:
        tool.stop()
        if writer is not None:
            writer.close()
    del keep
    return result


FACTORY = """
from hotfunc import hot

def make_getter(name):
    def getter(self):
        return getattr(self, name) + {nested}
    return getter

@hot
def plain(x):
    return x + {body}

class C:
    x = 1
    get_x = make_getter("x")
"""


def case_factory(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """A factory's nested def edited: its closures are found through the collector.

    hotfunc.reload() in process, beside a plain body edit of the same file,
    with ``heap_objects`` live objects the collector walks.
    """
    import logging
    import statistics

    import hotfunc

    heap = [[i] for i in range(params.get("heap_objects", 3_000_000))]
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    sys.path.insert(0, str(folder))
    path = folder / "factory_mod.py"
    workload.write(path, FACTORY.format(nested=0, body=0))
    module = importlib.import_module("factory_mod")
    hotfunc.configure(level=logging.WARNING)
    hotfunc.hot(module)
    hotfunc.reload()
    nested: list[float] = []
    body: list[float] = []
    for edit in range(1, params.get("edits", 10) + 1):
        for kind, values, into in (
            ("nested", {"nested": edit, "body": edit - 1}, nested),
            ("body", {"nested": edit, "body": edit}, body),
        ):
            workload.write(path, FACTORY.format(**values))
            started = time.perf_counter()
            hotfunc.reload(str(path))
            into.append(time.perf_counter() - started)
            assert kind == "body" or module.C().get_x() == 1 + edit
    return {
        "nested": statistics.median(nested),
        "body": statistics.median(body),
        "heap": len(heap),
    }


def case_shift(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Insert a line at the top; time until every function reports its new line."""
    tool = TOOLS[tool_name]()
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    functions = params.get("functions", 200)
    [(path, module, _)] = _make_files(tool, folder, 1, functions)
    tool.modules = {str(path): module}  # type: ignore[attr-defined]
    funcs = [getattr(module, f"func_{i}") for i in range(functions)]
    base = [f.__code__.co_firstlineno for f in funcs]
    tool.start(folder)
    time.sleep(0.2)
    latencies: list[float] = []
    misses = 0
    try:
        for pad in range(1, params.get("edits", 10) + 1):
            text = workload.module_source(functions, header=tool.header, decorator=tool.decorator)
            workload.write(path, "#\n" * pad + text)
            started = time.perf_counter()

            def moved(pad: int = pad) -> bool:
                if isinstance(tool, IPythonAutoreload):
                    tool.reloader.check()
                return all(
                    f.__code__.co_firstlineno == b + pad for f, b in zip(funcs, base, strict=True)
                )

            latency = workload.probe_latency(moved, True, started, timeout=5)
            if latency is None:
                misses += 1
            else:
                latencies.append(latency)
            time.sleep(0.02)
    finally:
        tool.stop()
    result: dict[str, Any] = _percentiles(latencies) if latencies else {}
    result["misses"] = misses
    return result


def case_per_call(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Seconds per call of a small function, and the same for a plain function."""
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    decorator = {"hotfunc": "@hot", "reloading": "@reloading", "seed": "@realtimefunc"}.get(
        tool_name, ""
    )
    header = {
        "hotfunc": "from hotfunc import hot\n",
        "reloading": "from reloading import reloading\n",
        "seed": "from seed_realtimefunc import realtimefunc\n",
    }.get(tool_name, "")
    workload.write(folder / "plain_mod.py", workload.module_source(1))
    workload.write(
        folder / "tool_mod.py", workload.module_source(1, header=header, decorator=decorator)
    )
    plain = _load(folder, "plain_mod").func_0
    func = _load(folder, "tool_mod").func_0
    tool = TOOLS[tool_name]() if tool_name in TOOLS else Tool()
    tool.modules = {}  # type: ignore[attr-defined]
    tool.start(folder)
    slow = tool_name in ("reloading", "seed")
    number = params.get("slow_calls", 300) if slow else params.get("calls", 200_000)
    try:
        tool_times, plain_times = [], []
        for _ in range(params.get("repeats", 7)):
            plain_times.append(timeit.timeit(plain, number=params.get("calls", 200_000)))
            tool_times.append(timeit.timeit(func, number=number))
    finally:
        tool.stop()
    per_plain = sorted(plain_times)[len(plain_times) // 2] / params.get("calls", 200_000)
    per_tool = sorted(tool_times)[len(tool_times) // 2] / number
    return {"per_call": per_tool, "plain": per_plain, "ratio": per_tool / per_plain}


def case_import(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Import time of a module of N hot functions against the same module without @hot."""
    import hotfunc  # noqa: F401  # its own import is measured elsewhere

    folder = Path(params["folder"])
    sys.path.insert(0, str(folder))
    name = params["module"]
    started = time.perf_counter()
    importlib.import_module(name)
    return {"seconds": time.perf_counter() - started}


def case_import_hotfunc(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`python -X importtime -c 'import hotfunc'`: hotfunc's cumulative import time.

    hotfunc is byte-compiled first, as an installed package is: where
    PYTHONDONTWRITEBYTECODE is set, it would otherwise be compiled at every import.
    """
    import compileall
    import os

    import hotfunc

    compileall.compile_dir(os.path.dirname(hotfunc.__file__), quiet=1)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import hotfunc"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    match = re.search(r"\|\s*(\d+)\s*\|\s*hotfunc\s*$", out, re.MULTILINE)
    assert match, out
    return {"seconds": int(match.group(1)) / 1e6}


def case_import_hook(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Seconds to import N small modules that do not match, with or without the CLI's hook."""
    folder = Path(params["folder"])
    sys.path.insert(0, str(folder))
    if params.get("hook"):
        from hotfunc.processes import _importhook

        _importhook.install(_importhook.Patterns([str(folder / "hot_*.py")]))
    started = time.perf_counter()
    for number in range(params["modules"]):
        importlib.import_module(f"cold_{number}")
    return {"seconds": time.perf_counter() - started}


def _plain_functions(count: int) -> list[Any]:
    """``count`` distinct functions of one freshly imported module, not hot yet."""
    folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    workload.write(folder / "plain_funcs.py", workload.module_source(count))
    module = _load(folder, "plain_funcs")
    return [getattr(module, f"func_{i}") for i in range(count)]


def case_hot_cost(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Seconds @hot takes per function, registering N distinct functions of one module."""
    import hotfunc

    functions = params.get("functions", 1000)
    funcs = _plain_functions(functions)
    hot = hotfunc.hot
    started = time.perf_counter()
    for func in funcs:
        hot(func)
    return {"seconds_per_function": (time.perf_counter() - started) / functions}


def case_memory(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Bytes the registry allocates per registered function."""
    import hotfunc

    functions = params.get("functions", 1000)
    funcs = _plain_functions(functions)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for func in funcs:
        hotfunc.hot(func)
    len(hotfunc.registry)  # whatever the registry builds lazily counts too
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"bytes_per_function": (after - before) / functions}


def case_idle(tool_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """CPU the watcher burns while nothing changes, per 5 s."""
    tool = TOOLS[tool_name]()
    root = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    files = params.get("files", 200)
    per_folder = 20
    loaded = []
    for start in range(0, files, per_folder):
        folder = workload.make_folder(root, f"pkg{start // per_folder}")
        for number in range(start, min(files, start + per_folder)):
            path = folder / f"idle_mod_{number}.py"
            workload.write(
                path, workload.module_source(1, header=tool.header, decorator=tool.decorator)
            )
        loaded.append(folder)
    for folder in loaded:
        for path in folder.glob("*.py"):
            _load(folder, path.stem)
    tool.modules = {}  # type: ignore[attr-defined]
    tool.start(root if tool_name != "jurigged" else root / "*")
    time.sleep(1.0)
    seconds = params.get("seconds", 5.0)
    before = workload.cpu_seconds()
    time.sleep(seconds)
    used = workload.cpu_seconds() - before
    tool.stop()
    return {"cpu_per_5s": used * 5.0 / seconds}


CASES = {
    "reload": case_reload,
    "shift": case_shift,
    "factory": case_factory,
    "per_call": case_per_call,
    "import": case_import,
    "import_hotfunc": case_import_hotfunc,
    "memory": case_memory,
    "hot_cost": case_hot_cost,
    "import_hook": case_import_hook,
    "idle": case_idle,
}


def main() -> None:
    case, tool = sys.argv[1], sys.argv[2]
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    print(json.dumps(CASES[case](tool, params)))


if __name__ == "__main__":
    main()
