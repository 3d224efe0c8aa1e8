"""The benchmark harness runs: each kind of case, briefly, for hotfunc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parent.parent / "bench" / "cases.py"


@pytest.mark.parametrize(
    ("case", "params", "key"),
    [
        ("reload", {"edits": 2}, "p50"),
        ("reload", {"edits": 2, "functions": 50, "sleep": 0.001}, "p50"),
        ("shift", {"edits": 2, "functions": 20}, "p50"),
        ("factory", {"edits": 2, "heap_objects": 1000}, "nested"),
        ("per_call", {"calls": 2000, "repeats": 1}, "ratio"),
        ("hot_cost", {"functions": 50}, "seconds_per_function"),
        ("memory", {"functions": 50}, "bytes_per_function"),
        ("import_hotfunc", {}, "seconds"),
    ],
)
def test_case_runs(case, params, key):
    """A benchmark case runs in its own process and reports its figure."""
    done = subprocess.run(
        [sys.executable, str(CASES), case, "hotfunc", json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result[key] > 0
    assert result.get("misses", 0) == 0


def test_processes_bench_runs():
    """bench/processes.py measures a pool: each worker swaps each save, and says when."""
    script = CASES.parent / "processes.py"
    done = subprocess.run(
        [sys.executable, str(script), "--one", "pool", "2", "forkserver", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=script.parent,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < result["p50_ms"] <= result["p95_ms"]
    assert result["cpu_ms_per_worker"] > 0
