"""Plot reload latency against file size from a benchmark run's JSON.

python bench/plot.py [bench/results/latest.json] [docs/img/latency-vs-size.png]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
LABELS = {
    "hotfunc": "hotfunc",
    "jurigged": "jurigged 0.6",
    "watchdog-bare": "bare watchdog handler (recompiles the file)",
}


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "latest.json"
    target = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else HERE.parent / "docs" / "img" / "latency-vs-size.png"
    )
    sweep = json.loads(source.read_text())["sweep"]
    sizes = sorted(int(lines) for lines in sweep)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for tool, label in LABELS.items():
        points = []
        for lines in sizes:
            runs = [r["p50"] for r in sweep[str(lines)].get(tool, []) if "p50" in r]
            if runs:
                points.append((lines, statistics.median(runs) * 1e3))
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lines in the edited file")
    ax.set_ylabel("save to first new result, p50 (ms)")
    ax.set_title("Reload latency against file size (one function edited)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
