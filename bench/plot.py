"""Plot reload latency against file size, and boot time against app size.

python bench/plot.py [bench/results/latest.json] [docs/img/latency-vs-size.png]

Without arguments, bench/results/scale.json (from bench/scale.py) is drawn
too, as docs/img/boot-vs-size.png.
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


BOOT_LABELS = {
    "plain": "plain Python",
    "hot": "hotfunc: start() first, @hot",
    "run": "hotfunc: python -m hotfunc run",
    "jurigged": "jurigged",
}


def plot_boot(source: Path, target: Path) -> None:
    """Import time of a generated app against its size, from bench/scale.py's JSON."""
    boot = json.loads(source.read_text())["boot"]
    series = {}
    for tool, label in BOOT_LABELS.items():
        points = []
        for data in sorted(boot.values(), key=lambda d: d["lines"]):
            runs = [r["seconds"] for r in data["results"].get(tool, [])]
            if runs:
                points.append((data["lines"], statistics.median(runs) * 1e3))
        series[label] = points
    draw(
        series,
        "lines in the app (modules of 50 functions, bytecode cached)",
        "import time, median (ms)",
        "Boot time against app size",
        target,
    )


def draw(
    series: dict[str, list[tuple[int, float]]], xlabel: str, ylabel: str, title: str, target: Path
) -> None:
    """One log-log line per series, with markers, saved to ``target``."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, points in series.items():
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    print(f"wrote {target}")


def main() -> int:
    scale = HERE / "results" / "scale.json"
    if len(sys.argv) == 1 and scale.exists():
        plot_boot(scale, HERE.parent / "docs" / "img" / "boot-vs-size.png")
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "latest.json"
    target = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else HERE.parent / "docs" / "img" / "latency-vs-size.png"
    )
    if not source.exists():
        print(f"no {source}: run bench/run.py for the latency plot", file=sys.stderr)
        return 0
    sweep = json.loads(source.read_text())["sweep"]
    sizes = sorted(int(lines) for lines in sweep)
    series = {}
    for tool, label in LABELS.items():
        points = []
        for lines in sizes:
            runs = [r["p50"] for r in sweep[str(lines)].get(tool, []) if "p50" in r]
            if runs:
                points.append((lines, statistics.median(runs) * 1e3))
        series[label] = points
    draw(
        series,
        "lines in the edited file",
        "save to first new result, p50 (ms)",
        "Reload latency against file size (one function edited)",
        target,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
