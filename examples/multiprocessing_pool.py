"""A multiprocessing Pool whose worker processes run hot functions.

    python examples/multiprocessing_pool.py

Prints the pool's results twice a second; edit ``score`` and save, and the
workers (forked children, each with a watcher of its own) return new results
without the pool being restarted.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import hotfunc
from hotfunc import hot


@hot
def score(n: int) -> int:
    return n * 2


def main() -> None:
    hotfunc.start()
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        print(f"pool of 2 workers started by {os.getpid()}", flush=True)
        while True:
            print("results:", pool.map(score, range(4)), flush=True)
            time.sleep(0.5)


if __name__ == "__main__":
    main()
