"""Boot and scale: what hotfunc costs an application that starts, and a very large file.

    python bench/scale.py            # every case; JSON to bench/results/scale.json
    python bench/scale.py --quick    # smaller apps and files, one round

Each figure is a median over rounds, in fresh processes, beside plain Python
measured in the same run; the ratio is what counts on a noisy machine.

- boot: ``hotfunc.start()`` first, then import an app of N modules of 50 hot
  functions each (bytecode cached), against the same imports without hotfunc;
  the CPU the process burns in the 2 s after; RSS.
- run mode: ``python -m hotfunc run main.py`` on the same app without
  decorators, against ``python main.py`` (and ``jurigged main.py`` when it
  is installed).
- first edit: a 10,000-line file never edited before, saved once a few
  seconds after start(): save to new result; then later edits.
- huge file: 100,000 hot functions: the first edit, a 3-line shift at the
  top until the last function has its new line numbers, and the longest
  time the registry lock was held meanwhile.
- memory: RSS a few seconds after start() minus the same import without
  hotfunc, per hot function.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402

MAIN = """
import json, os, sys, time
sys.path.insert(0, {root!r})
{setup}
started, cpu = time.perf_counter(), time.process_time()
import app_all  # noqa: F401
imported, cpu_import = time.perf_counter(), time.process_time()
time.sleep(2.0)
cpu_after = time.process_time() - cpu_import
rss = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
print("RESULT " + json.dumps({{"seconds": imported - started, "cpu_after": cpu_after, "rss": rss}}))
"""


def make_app(root: Path, modules: int, hot: bool) -> int:
    """An app of ``modules`` modules of 50 functions; returns its number of lines."""
    root.mkdir(parents=True, exist_ok=True)
    lines = 0
    for number in range(modules):
        text = workload.module_source(
            50, header="from hotfunc import hot\n" if hot else "", decorator="@hot" if hot else ""
        )
        workload.write(root / f"app_mod_{number}.py", text)
        lines += text.count("\n")
    workload.write(root / "app_all.py", "".join(f"import app_mod_{n}\n" for n in range(modules)))
    compileall.compile_dir(str(root), quiet=1)  # bytecode cached, as at any restart
    return lines


def run_main(root: Path, how: str) -> dict[str, Any] | None:
    setup = "import hotfunc; hotfunc.start()" if how == "hot" else ""
    script = root / f"main_{how}.py"
    script.write_text(MAIN.format(root=str(root), setup=setup))
    command = {
        "plain": [sys.executable, str(script)],
        "hot": [sys.executable, str(script)],
        "run": [sys.executable, "-m", "hotfunc", "run", str(script)],
        "jurigged": [sys.executable, "-m", "jurigged", str(script)],
    }[how]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=root)
    return result_of(done, how)


def result_of(done: subprocess.CompletedProcess[str], label: str) -> dict[str, Any] | None:
    """The JSON a measuring script printed after ``RESULT``, or None if it failed."""
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    print(f"  {label}: failed: {done.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
    return None


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r is not None and r.get(key) is not None]
    return statistics.median(values) if values else None


def lower_quartile(results: list[dict[str, Any]], key: str) -> float | None:
    """Noise on a shared machine only ever adds time: the fastest quarter of the
    rounds says what a quiet machine would, where the median may not."""
    values = sorted(r[key] for r in results if r is not None and r.get(key) is not None)
    return values[(len(values) - 1) // 4] if values else None


def boot(modules: int, rounds: int, tools: list[str]) -> dict[str, Any]:
    """Import time, CPU after and RSS of an app of ``modules`` modules, per tool."""
    base = Path(tempfile.mkdtemp(prefix="hotfunc-boot-"))
    lines = make_app(base / "hot", modules, hot=True)
    make_app(base / "plain", modules, hot=False)
    results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for number in range(rounds):
        order = tools[number % len(tools) :] + tools[: number % len(tools)]
        for tool in order:
            root = base / ("hot" if tool == "hot" else "plain")
            result = run_main(root, tool)
            if result is not None:
                results[tool].append(result)
    return {"lines": lines, "functions": modules * 50, "results": results}


FIRST_EDIT = """
import json, sys, time, threading
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
import hotfunc, workload
from hotfunc import _state
functions = {functions}
def text(values=None, pad=0):
    return "#\\n" * pad + workload.module_source(
        functions, values or {{}}, header="from hotfunc import hot\\n", decorator="@hot"
    )
hotfunc.start()
import big_mod
funcs = [getattr(big_mod, f"func_{{i}}") for i in range(functions)]
# The longest hold of the registry lock: a probe that finds it busy waits,
# and the wait is timed.
longest, stop = [0.0], threading.Event()
def probe():
    while not stop.is_set():
        started = time.perf_counter()
        if not _state.lock.acquire(blocking=False):
            _state.lock.acquire()
            longest[0] = max(longest[0], time.perf_counter() - started)
        _state.lock.release()
        time.sleep(0.001)
thread = threading.Thread(target=probe, daemon=True)
thread.start()
time.sleep({settle})
middle = functions // 2
def save_and_wait(content, ready, check=lambda: True):
    workload.write({path!r}, content)
    started = time.perf_counter()
    while True:
        while not ready():
            if time.perf_counter() - started > 120:
                return None
            time.sleep(0.0005)
        done = time.perf_counter()
        # Checked after the clock stops: a look at every function would
        # otherwise be timed as part of the reload.
        if check():
            return done - started
        time.sleep(0.0005)
first = save_and_wait(text({{middle: 7}}), lambda: funcs[middle]() == 7)
later = []
for value in range(8, 14):
    time.sleep(0.05)
    later.append(save_and_wait(text({{middle: value}}), lambda v=value: funcs[middle]() == v))
time.sleep(0.05)
lines = [f.__code__.co_firstlineno for f in funcs]
# The last function moves last: look at it, and at all of them once it moved,
# so that the look costs the reload nothing while it works, and is not timed.
shift = save_and_wait(
    text({{middle: 13}}, pad=3),
    lambda: funcs[-1].__code__.co_firstlineno == lines[-1] + 3,
    lambda: all(f.__code__.co_firstlineno == l + 3 for f, l in zip(funcs, lines)),
)
stop.set()
# The floor: new code objects for every function, in a bare loop.
started = time.perf_counter()
for f in funcs:
    code = f.__code__
    f.__code__ = code.replace(co_firstlineno=code.co_firstlineno + 3)
floor = time.perf_counter() - started
print("RESULT " + json.dumps({{"first": first, "later": sorted(later)[len(later) // 2],
      "shift": shift, "shift_floor": floor, "lock": longest[0]}}))
"""


def compile_hotfunc() -> None:
    """Bytecode for hotfunc itself, as an installed package has: with
    PYTHONDONTWRITEBYTECODE set, every process would compile it anew."""
    import hotfunc

    compileall.compile_dir(str(Path(hotfunc.__file__).parent), quiet=1)


def first_edit(functions: int, settle: float) -> dict[str, Any] | None:
    """First edit, later edits and a shift of a file of ``functions`` functions."""
    root = Path(tempfile.mkdtemp(prefix="hotfunc-edit-"))
    path = root / "big_mod.py"
    workload.write(
        path,
        workload.module_source(functions, header="from hotfunc import hot\n", decorator="@hot"),
    )
    compileall.compile_file(str(path), quiet=1)
    script = root / "edit.py"
    script.write_text(
        FIRST_EDIT.format(
            root=str(root), bench=str(HERE), functions=functions, settle=settle, path=str(path)
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=1800, cwd=root
    )
    return result_of(done, "first edit")


MEMORY = """
import sys, time
sys.path.insert(0, {root!r})
{setup}
import mem_mod
time.sleep(3.0)
{after}
rss = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
print("RESULT", rss)
"""


def memory(functions: int, rounds: int) -> dict[str, Any]:
    """RSS a few seconds after start() with and without hotfunc, per hot function."""
    root = Path(tempfile.mkdtemp(prefix="hotfunc-mem-"))
    source = workload.module_source(functions, header="from hotfunc import hot\n", decorator="@hot")
    workload.write(root / "mem_mod.py", source)
    compileall.compile_dir(str(root), quiet=1)
    sizes: dict[str, list[int]] = {"plain": [], "hot": [], "listed": []}
    for _ in range(rounds):
        for kind in sizes:
            setup = (
                "import os; os.environ['HOTFUNC_DISABLE'] = '1'; import hotfunc"
                if kind == "plain"
                else "import hotfunc; hotfunc.start()"
            )
            # Listing the registry builds an entry for every function.
            after = "len(hotfunc.registry); time.sleep(0.5)" if kind == "listed" else ""
            script = root / f"mem_{kind}.py"
            script.write_text(
                textwrap.dedent(MEMORY.format(root=str(root), setup=setup, after=after))
            )
            done = subprocess.run(
                [sys.executable, str(script)], capture_output=True, text=True, timeout=900
            )
            for line in done.stdout.splitlines():
                if line.startswith("RESULT "):
                    sizes[kind].append(int(line.split()[1]))
    rss = {kind: statistics.median(found) if found else None for kind, found in sizes.items()}
    plain = rss["plain"]

    def per_function(kind: str) -> float | None:
        size = rss[kind]
        return None if plain is None or size is None else (size - plain) / functions

    return {
        "plain_rss": plain,
        "hot_rss": rss["hot"],
        "bytes_per_function": per_function("hot"),
        "bytes_per_function_listed": per_function("listed"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller apps and files, one round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 5)
    compile_hotfunc()
    tools = ["plain", "hot", "run"]
    jurigged = (
        subprocess.run([sys.executable, "-c", "import jurigged"], capture_output=True).returncode
        == 0
    )
    if jurigged:
        tools.append("jurigged")
    else:
        print("skipping jurigged: not installed", file=sys.stderr)
    sizes = [20, 200] if args.quick else [20, 50, 100, 200, 400]
    report: dict[str, Any] = {"rounds": rounds, "boot": {}, "edit": {}, "memory": {}}
    for modules in sizes:
        report["boot"][str(modules)] = boot(modules, rounds, tools)
        print(f"  done: boot, {modules} modules", file=sys.stderr)
    report["edit"]["10000 lines"] = first_edit(1000, settle=3.0)
    print("  done: first edit, 10,000 lines", file=sys.stderr)
    if not args.quick:
        report["edit"]["100000 functions"] = first_edit(100_000, settle=3.0)
        print("  done: 100,000 functions", file=sys.stderr)
    for functions in (10_000,) if args.quick else (10_000, 100_000):
        report["memory"][str(functions)] = memory(functions, rounds)
        print(f"  done: memory, {functions} functions", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    print("\n| case | plain | hotfunc | ratio (fastest quarter) |")
    print("|---|---|---|---|")
    for modules, data in report["boot"].items():
        results = data["results"]
        plain = median(results["plain"], "seconds")
        plain_quarter = lower_quartile(results["plain"], "seconds")
        for tool in ("hot", "run", "jurigged"):
            value = median(results.get(tool, []), "seconds")
            quarter = lower_quartile(results.get(tool, []), "seconds")
            if value is None or plain is None or quarter is None or not plain_quarter:
                continue
            name = {"hot": "start() first, @hot", "run": "run mode", "jurigged": "jurigged"}[tool]
            cpu = median(results[tool], "cpu_after")
            rss = median(results[tool], "rss")
            plain_rss = median(results["plain"], "rss")
            after = (cpu or 0) * 1e3
            print(
                f"| boot, {modules} modules ({data['lines']:,} lines), {name} | "
                f"{plain * 1e3:.0f} ms | {value * 1e3:.0f} ms (CPU after: {after:.0f} ms,"
                f" RSS {(rss or 0) / plain_rss:.2f}x) | {value / plain:.2f}x"
                f" ({quarter / plain_quarter:.2f}x) |"
            )
    for name, data in report["edit"].items():
        if data is None:
            continue
        parts = [f"{key} {value * 1e3:.1f} ms" for key, value in data.items() if value is not None]
        if data.get("shift") and data.get("shift_floor"):
            parts.append(f"shift / floor {data['shift'] / data['shift_floor']:.2f}x")
        print(f"| {name}: " + "; ".join(parts) + " | | | |")
    for functions, data in report["memory"].items():
        per, listed = data["bytes_per_function"], data.get("bytes_per_function_listed")
        print(
            f"| memory per hot function, {functions} functions | | "
            f"{per if per is None else round(per)} B "
            f"(registry listed: {listed if listed is None else round(listed)} B) | |"
        )


if __name__ == "__main__":
    sys.exit(main())
