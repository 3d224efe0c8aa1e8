"""Time from a save until every process that runs the code runs the new code.

    python bench/processes.py           # pools of 2, 8 and 32, 2 Dask and 2 Ray workers
    python bench/processes.py --quick   # pools of 2 and 8, fewer saves

For each save: the time from the write until the last worker has swapped
(each worker's ``on_reload`` event, on the same clock), p50 and p95 over the
saves; and the CPU each worker spent per save.  The start-up hook's cost for
a Python process outside any hot tree is measured against the same start-up
without it, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

MODULE = """
from hotfunc import hot

@hot
def version():
    return {n}
"""


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


# Each pool worker imports the module, then reports each swap and its CPU.
def _worker_init(folder: str, queue: Any) -> None:
    sys.path.insert(0, folder)
    import benchmod

    import hotfunc
    from hotfunc.testing import wait_for

    def report(event: Any) -> None:
        queue.put((os.getpid(), benchmod.version(), time.time(), time.process_time()))

    hotfunc.on_reload(report)
    wait_for(hotfunc.is_running, timeout=30)
    queue.put((os.getpid(), "ready", time.time(), time.process_time()))


def pool(n: int, method: str, saves: int) -> dict[str, Any]:
    import multiprocessing

    import hotfunc

    folder = tempfile.mkdtemp(prefix="hotfunc-bench-")
    path = Path(folder) / "benchmod.py"
    path.write_text(MODULE.format(n=0))
    sys.path.insert(0, folder)
    import benchmod  # noqa: F401  # the parent runs the code too

    hotfunc.start()
    context = multiprocessing.get_context(method)
    queue = context.Queue()
    workers = context.Pool(n, initializer=_worker_init, initargs=(folder, queue))
    cpu: dict[int, float] = {}
    for _ in range(n):
        pid, _, _, spent = queue.get(timeout=120)
        cpu[pid] = spent
    latencies, cpu_per_save = [], []
    for k in range(1, saves + 1):
        time.sleep(0.2)  # the last save settled everywhere
        start = time.time()
        path.write_text(MODULE.format(n=k))
        seen: dict[int, float] = {}
        while len(seen) < n:
            pid, value, moment, spent = queue.get(timeout=60)
            if value == k:
                seen[pid] = moment
                cpu_per_save.append(spent - cpu[pid])
                cpu[pid] = spent
        latencies.append(max(seen.values()) - start)
    workers.terminate()
    hotfunc.stop()
    p50, p95 = _percentiles(latencies)
    return {
        "what": f"pool of {n} ({method})",
        "p50_ms": p50 * 1e3,
        "p95_ms": p95 * 1e3,
        "cpu_ms_per_worker": statistics.median(cpu_per_save) * 1e3,
    }


def _cluster_module(root: Path) -> tuple[Path, Path]:
    driver, worker = root / "driver_copy", root / "worker_copy"
    for folder in (driver, worker):
        folder.mkdir()
        (folder / "benchmod.py").write_text(MODULE.format(n=0))
    return driver, worker


def _record_swaps() -> None:
    """In a worker: keep the time of each swap, and the CPU that applying
    shipped saves took so far (the thread's own: Dask's and Ray's own threads
    work all the time, a save or not)."""
    import benchmod

    import hotfunc
    from hotfunc.processes import _remote

    state = sys.modules[__name__].__dict__
    moments = state.setdefault("moments", [])
    spent = state.setdefault("spent", [0.0])
    apply = _remote.apply

    def timed(texts: Any, earlier: Any = None) -> list[str]:
        start = time.thread_time()
        try:
            return apply(texts, earlier)
        finally:
            spent[0] += time.thread_time() - start

    _remote.apply = timed

    def record(event: Any) -> None:
        moments.append((benchmod.version(), time.time()))

    hotfunc.on_reload(record)


def _swaps() -> tuple[list[tuple[int, float]], float]:
    state = sys.modules[__name__].__dict__
    return list(state.get("moments", [])), state.get("spent", [0.0])[0]


def _cluster_saves(path: Path, saves: int, ask: Any) -> tuple[list[float], list[float]]:
    latencies = []
    first: dict[Any, float] = {}
    for k in range(1, saves + 1):
        time.sleep(0.2)
        start = time.time()
        path.write_text(MODULE.format(n=k))
        deadline = time.time() + 30
        while time.time() < deadline:
            answers = ask()
            done = {w: [m for m in ms if m[0] == k] for w, (ms, _) in answers.items()}
            if all(done.values()):
                break
            time.sleep(0.005)
        else:
            raise RuntimeError(f"save {k} did not reach every worker")
        latencies.append(max(found[0][1] for found in done.values()) - start)
        if k == 1:  # the first applies the initial texts too: counted from here
            first = {w: spent for w, (_, spent) in answers.items()}
    cpu = [(spent - first[w]) / (saves - 1) for w, (_, spent) in ask().items()]
    return latencies, cpu


def dask(saves: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    import hotfunc
    import hotfunc.dask

    root = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    driver, worker = _cluster_module(root)
    sys.path.insert(0, str(driver))
    import benchmod  # noqa: F401

    hotfunc.start()
    here = str(Path(__file__).resolve().parent)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):

        def use_copy() -> None:
            sys.path[:] = [str(worker), here] + [p for p in sys.path if p != str(driver)]

        client.run(use_copy)
        client.run(lambda: __import__("processes")._record_swaps())
        hotfunc.dask.follow(client)
        latencies, cpu = _cluster_saves(
            driver / "benchmod.py",
            saves,
            lambda: client.run(lambda: __import__("processes")._swaps()),
        )
    hotfunc.stop()
    p50, p95 = _percentiles(latencies)
    return {"what": "2 Dask workers", "p50_ms": p50 * 1e3, "p95_ms": p95 * 1e3,
            "cpu_ms_per_worker": statistics.median(cpu) * 1e3}  # fmt: skip


def ray_(saves: int) -> dict[str, Any]:
    import ray

    import hotfunc
    import hotfunc.ray

    root = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    driver, worker = _cluster_module(root)
    sys.path.insert(0, str(driver))
    import benchmod  # noqa: F401

    hotfunc.start()
    here = str(Path(__file__).resolve().parent)
    env = hotfunc.ray.runtime_env({"env_vars": {"PYTHONPATH": f"{worker}:{here}"}})
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False)

    @ray.remote
    class Worker:
        def __init__(self) -> None:
            sys.path[:] = [p for p in sys.path if p != str(driver)]
            __import__("processes")._record_swaps()

        def swaps(self) -> tuple[list[tuple[int, float]], float]:
            return __import__("processes")._swaps()

    actors = [Worker.remote() for _ in range(2)]  # type: ignore[attr-defined]
    ray.get([a.swaps.remote() for a in actors])
    latencies, cpu = _cluster_saves(
        driver / "benchmod.py",
        saves,
        lambda: dict(enumerate(ray.get([a.swaps.remote() for a in actors]))),
    )
    ray.shutdown()
    hotfunc.stop()
    p50, p95 = _percentiles(latencies)
    return {"what": "2 Ray workers", "p50_ms": p50 * 1e3, "p95_ms": p95 * 1e3,
            "cpu_ms_per_worker": statistics.median(cpu) * 1e3}  # fmt: skip


def ray_tasks(hot: bool, tasks: int) -> dict[str, Any]:
    """A no-op Ray task's round trip, with each task checking for the driver's
    saves as it starts (``hot``), or in a plain job."""
    import ray

    env: dict[str, Any] = {}
    if hot:
        import hotfunc
        import hotfunc.ray

        hotfunc.start()
        env = hotfunc.ray.runtime_env({})
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False)

    @ray.remote
    def noop() -> int:
        return 1

    ray.get([noop.remote() for _ in range(100)])  # the workers started
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(tasks):
            ray.get(noop.remote())
        rounds.append((time.perf_counter() - start) / tasks)
    ray.shutdown()
    return {"what": f"Ray task, {'hot' if hot else 'plain'}", "task_ms": min(rounds) * 1e3}


def startup(rounds: int) -> dict[str, Any]:
    """The start-up hook's cost for a process outside any hot tree.

    The same interpreter reads a site folder holding only the hook, or an
    empty one: the difference is what the hook adds to every start.
    """
    hook = Path(sysconfig.get_paths()["purelib"]) / "hotfunc-follow.pth"
    root = Path(tempfile.mkdtemp(prefix="hotfunc-bench-"))
    (root / "with").mkdir()
    (root / "without").mkdir()
    (root / "with" / hook.name).write_text(hook.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        for kind in ("without", "with"):
            code = f"import site; site.addsitedir({str(root / kind)!r})"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True)
            times[kind].append(time.perf_counter() - start)
    without = statistics.median(times["without"])
    added = statistics.median(times["with"]) - without
    return {"what": "start-up, outside a hot tree", "without_ms": without * 1e3,
            "added_ms": added * 1e3}  # fmt: skip


def _child(args: list[str]) -> dict[str, Any]:
    """Each measurement in a fresh interpreter: a pool's workers must not outlive it."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", *args],
        capture_output=True, text=True, timeout=900, check=False,
        cwd=Path(__file__).resolve().parent,
    )  # fmt: skip
    if done.returncode != 0:
        return {"what": " ".join(args), "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs="+")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    if options.one:
        kind, *rest = options.one
        saves = int(rest[-1])
        if kind == "pool":
            result = pool(int(rest[0]), rest[1], saves)
        elif kind == "dask":
            result = dask(saves)
        elif kind == "ray-tasks":
            result = ray_tasks(rest[0] == "hot", saves)
        else:
            result = ray_(saves)
        print(json.dumps(result))
        return
    saves = 10 if options.quick else 30  # at least 2: the clusters' CPU counts from the first
    sizes = [2, 8] if options.quick else [2, 8, 32]
    runs = [["pool", str(n), "forkserver", str(saves)] for n in sizes]
    runs.append(["pool", "8", "fork", str(saves)])
    if not options.quick:
        runs += [["dask", str(saves)], ["ray", str(saves)]]
        runs += [["ray-tasks", kind, "300"] for kind in ("plain", "hot", "plain", "hot")]
    results = [startup(10 if options.quick else 40)]
    results += [_child(run) for run in runs]
    tasks = [r for r in results if "task_ms" in r]
    results = [r for r in results if "task_ms" not in r]
    first = results[0]
    print(
        f"{first['what']}: {first['without_ms']:.1f} ms without the hook, "
        f"{first['added_ms']:+.2f} ms with it"
    )
    print(f"{'workers':<24} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/worker/save':>20}")
    for result in results[1:]:
        if "error" in result:
            print(f"{result['what']:<24} failed: {result['error']}")
            continue
        print(
            f"{result['what']:<24} {result['p50_ms']:>8.1f} {result['p95_ms']:>8.1f} "
            f"{result['cpu_ms_per_worker']:>20.2f}"
        )
    if tasks:
        # Interleaved runs, the best of each kind: these machines are noisy.
        plain = min(r["task_ms"] for r in tasks if r["what"].endswith("plain"))
        hot = min(r["task_ms"] for r in tasks if r["what"].endswith("hot"))
        print(f"a no-op Ray task: {plain:.2f} ms plain, {hot:.2f} ms checked ({hot / plain:.2f}x)")
        results.append({"what": "Ray task", "plain_ms": plain, "hot_ms": hot})
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
