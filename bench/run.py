"""Run the benchmark suite: every case in fresh processes, tools interleaved.

    python bench/run.py            # full run: table, JSON, and the size sweep
    python bench/run.py --quick    # under a minute: hotfunc and the bare-watchdog floor

Figures are medians over rounds.  Each is shown with its ratio to a baseline
measured in the same run (a plain function, a plain import, the bare watchdog
handler), because this kind of machine is noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402

RELOADERS = ["watchdog-bare", "hotfunc", "jurigged", "ipython", "reloading"]
PEER_MODULES = {
    "jurigged": "jurigged",
    "ipython": "IPython",
    "reloading": "reloading",
    "watchdog-bare": "watchdog",
}


def available(tool: str) -> bool:
    module = PEER_MODULES.get(tool)
    return module is None or importlib.util.find_spec(module) is not None


def run_case(case: str, tool: str, params: dict[str, Any]) -> dict[str, Any] | None:
    command = [sys.executable, str(HERE / "cases.py"), case, tool, json.dumps(params)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        print(f"  {case}/{tool}: timed out", file=sys.stderr)
        return None
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        print(f"  {case}/{tool}: failed: {last[0]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def rounds_of(
    case: str, tools: list[str], params: dict[str, Any], rounds: int
) -> dict[str, list[dict[str, Any]]]:
    """Run ``case`` for every tool, ``rounds`` times, rotating the tool order."""
    results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for number in range(rounds):
        order = tools[number % len(tools) :] + tools[: number % len(tools)]
        for tool in order:
            result = run_case(case, tool, params)
            if result is not None:
                results[tool].append(result)
    return results


def paired(
    case: str, params_by_kind: dict[str, dict[str, Any]], rounds: int
) -> dict[str, list[dict[str, Any]]]:
    """Run hotfunc's ``case`` once per kind of parameters in each round, alternating."""
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in params_by_kind}
    for _ in range(rounds):
        for kind, params in params_by_kind.items():
            result = run_case(case, "hotfunc", params)
            if result is not None:
                results[kind].append(result)
    return results


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e3:.2f} ms"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def prepare_import_modules(root: Path, functions: int) -> dict[str, Any]:
    """Two modules of ``functions`` functions, with and without @hot, byte-compiled."""
    hot = workload.module_source(functions, header="from hotfunc import hot\n", decorator="@hot")
    plain = workload.module_source(functions, header="from hotfunc import hot\n")
    workload.write(root / "import_hot.py", hot)
    workload.write(root / "import_plain.py", plain)
    # Both imports read bytecode, as an application's restart does; compile it
    # explicitly, since PYTHONDONTWRITEBYTECODE may be set.
    for name in ("import_hot.py", "import_plain.py"):
        py_compile.compile(str(root / name), doraise=True)
    return {"folder": str(root)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case")
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "latest.json", help="JSON output path"
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the file-size sweep")
    parser.add_argument(
        "--tools", help="comma-separated reloaders to compare (default: all installed)"
    )
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    edits = 6 if quick else 20
    reloaders = ["watchdog-bare", "hotfunc"] if quick else RELOADERS
    if args.tools:
        reloaders = [t for t in RELOADERS if t in args.tools.split(",")]
    missing = [t for t in reloaders if not available(t)]
    for tool in missing:
        print(f"skipping {tool}: not installed", file=sys.stderr)
    reloaders = [t for t in reloaders if t not in missing]
    started = time.time()
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        },
        "quick": quick,
        "rounds": rounds,
        "cases": {},
    }
    rows: list[tuple[str, str, str, str]] = []

    def record(name: str, results: dict[str, list[dict[str, Any]]]) -> None:
        report["cases"][name] = results
        print(f"  done: {name}", file=sys.stderr)

    # -- per call ------------------------------------------------------------
    call_tools = ["hotfunc"] + (
        [] if quick else [t for t in ("jurigged", "reloading") if t in reloaders] + ["seed"]
    )
    per_call = rounds_of("per_call", call_tools, {"calls": 100_000 if quick else 300_000}, rounds)
    record("per_call", per_call)
    for tool in call_tools:
        value = median(per_call[tool], "ratio")
        rows.append(
            (
                "per call vs plain",
                tool,
                "n/a" if value is None else f"{value:.3f}x",
                "<= 1.01x (hotfunc)",
            )
        )

    # -- reload latency -----------------------------------------------------
    latency_cases = [
        ("small file, tight loop", "reload", {"edits": edits}, "p50 <= 5 ms, p95 <= 25 ms"),
        (
            "small file, saved by another process, tight loop",
            "reload",
            {"edits": edits, "writer": "process"},
            "",
        ),
        (
            "small file, caller sleeps 1 ms",
            "reload",
            {"edits": edits, "sleep": 0.001},
            "p50 <= 2 ms",
        ),
        (
            "2,000 functions in 200 files, tight loop",
            "reload",
            {"edits": edits, "files": 200, "functions": 10},
            "<= 1.2x small file",
        ),
        (
            "3M live objects, tight loop",
            "reload",
            {"edits": edits, "heap_objects": 3_000_000},
            "<= 1.2x small file",
        ),
        (
            "one edit, 10,000-line file, tight loop",
            "reload",
            {"edits": edits, "functions": 1000},
            "p50 <= 15 ms",
        ),
        (
            "one edit, 10,000-line file, caller sleeps 1 ms",
            "reload",
            {"edits": edits, "functions": 1000, "sleep": 0.001},
            "",
        ),
        (
            "line shift, 200-function file",
            "shift",
            {"edits": edits, "functions": 200},
            "p50 <= 15 ms",
        ),
    ]
    for name, case, params, target in latency_cases:
        tools = [t for t in reloaders if not (case == "shift" and t == "reloading")]
        results = rounds_of(case, tools, params, rounds)
        record(name, results)
        floor = median(results.get("watchdog-bare", []), "p50")
        ours = median(results["hotfunc"], "p50")
        for tool in tools:
            p50 = median(results[tool], "p50")
            p95 = median(results[tool], "p95")
            misses = sum(r.get("misses", 0) for r in results[tool])
            note = f"p95 {ms(p95)}"
            if misses:
                note += f", {misses} never seen"
            if tool != "hotfunc" and ours is not None:
                note += f"; hotfunc/{tool} {ratio(ours, p50)}"
            elif floor is not None:
                note += f"; hotfunc/bare {ratio(ours, floor)}"
            rows.append((name, tool, ms(p50), f"{target}; {note}" if target else note))

    # -- a factory's closures, found through the collector --------------------
    factory = [
        run_case("factory", "hotfunc", {"edits": edits, "heap_objects": 3_000_000})
        for _ in range(1 if quick else 3)
    ]
    record("factory closures, 3M live objects", {"hotfunc": [f for f in factory if f]})
    nested = median([f for f in factory if f], "nested")
    body = median([f for f in factory if f], "body")
    rows.append(
        (
            "nested def edited, 3M live objects (reload() in process)",
            "hotfunc",
            ms(nested),
            f"closures found through the collector; a body edit: {ms(body)}",
        )
    )

    # -- import and memory ----------------------------------------------------
    samples = [run_case("import_hotfunc", "hotfunc", {}) for _ in range(3 if quick else 9)]
    record("import hotfunc", {"hotfunc": [s for s in samples if s]})
    value = median([s for s in samples if s], "seconds")
    rows.append(("import hotfunc (-X importtime)", "hotfunc", ms(value), "<= 10 ms"))

    functions = 1000
    folder = prepare_import_modules(Path(tempfile.mkdtemp(prefix="hotfunc-bench-")), functions)
    imports = paired(
        "import",
        {kind: {**folder, "module": f"import_{kind}"} for kind in ("plain", "hot")},
        5 if quick else 15,
    )
    record("import 1,000 functions", imports)
    hot_s, plain_s = median(imports["hot"], "seconds"), median(imports["plain"], "seconds")
    rows.append(
        (
            "import 1,000 hot functions",
            "hotfunc",
            ms(hot_s),
            f"<= 2x plain; {ratio(hot_s, plain_s)} of {ms(plain_s)}",
        )
    )
    costs = [
        run_case("hot_cost", "hotfunc", {"functions": functions}) for _ in range(3 if quick else 9)
    ]
    record("@hot per function", {"hotfunc": [c for c in costs if c]})
    per = median([c for c in costs if c], "seconds_per_function")
    rows.append(
        ("@hot per function", "hotfunc", "n/a" if per is None else f"{per * 1e6:.2f} us", "<= 1 us")
    )

    hook_folder = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    modules = 200
    for number in range(modules):
        path = hook_folder / f"cold_{number}.py"
        workload.write(path, workload.module_source(3))
        py_compile.compile(str(path), doraise=True)
    hooks = paired(
        "import_hook",
        {
            kind: {"folder": str(hook_folder), "modules": modules, "hook": kind == "with"}
            for kind in ("without", "with")
        },
        3 if quick else 9,
    )
    record("import hook", hooks)
    with_s, without_s = median(hooks["with"], "seconds"), median(hooks["without"], "seconds")
    rows.append(
        (
            "import 200 modules the CLI's hook does not match",
            "hotfunc",
            ms(with_s),
            f"no measurable cost; {ratio(with_s, without_s)} of {ms(without_s)} without it",
        )
    )

    memory = [
        run_case("memory", "hotfunc", {"functions": functions}) for _ in range(1 if quick else 3)
    ]
    record("registry memory", {"hotfunc": [m for m in memory if m]})
    value = median([m for m in memory if m], "bytes_per_function")
    rows.append(
        (
            "registry bytes per function",
            "hotfunc",
            "n/a" if value is None else f"{value:.0f} B",
            "<= 500 B",
        )
    )

    idle_tools = ["hotfunc"] + ([] if quick else [t for t in ("jurigged",) if t in reloaders])
    idle = rounds_of("idle", idle_tools, {"seconds": 1.0 if quick else 5.0}, 1)
    record("idle CPU", idle)
    for tool in idle_tools:
        rows.append(
            (
                "idle CPU, 200 files, per 5 s",
                tool,
                ms(median(idle[tool], "cpu_per_5s")),
                "<= 1 ms (hotfunc)",
            )
        )

    # -- size sweep, for the plot --------------------------------------------
    if not quick and not args.no_sweep:
        sweep: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for lines in (100, 500, 1000, 2000, 5000, 10000, 20000):
            tools = [t for t in ("hotfunc", "jurigged", "watchdog-bare") if t in reloaders]
            params = {"edits": 8, "functions": workload.functions_for_lines(lines), "sleep": 0.001}
            sweep[str(lines)] = rounds_of("reload", tools, params, 1)
            print(f"  sweep: {lines} lines", file=sys.stderr)
        report["sweep"] = sweep

    report["rows"] = rows
    report["seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    widths = [
        max(len(r[i]) for r in [("case", "tool", "median", "target and ratios"), *rows])
        for i in range(3)
    ]
    header = ("case", "tool", "median", "target and ratios")
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, [*widths, 0], strict=False))]
    lines.append("-|-".join("-" * w for w in [*widths, 20]))
    for row in rows:
        lines.append(" | ".join(c.ljust(w) for c, w in zip(row, [*widths, 0], strict=False)))
    print("\n".join(lines))
    print(f"\n{len(rows)} figures in {report['seconds']:.0f} s; JSON in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
