"""Time single runs and ensembles of the default scenario; prints figures (not a test).

python benchmarks/bench_run.py
"""

from __future__ import annotations

import os
import platform
import time

import mesa
import numpy as np

from sim import load_scenario, run


def best_of(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    sc = load_scenario("kosovo_2021")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, mesa {mesa.__version__}"
    )
    for runs, days in ((1, 180), (100, 180), (1000, 180), (1000, 60)):
        seconds = best_of(lambda r=runs, d=days: run(sc, runs=r, days=d))
        print(f"{runs:>6} runs x {days} days: {seconds:7.3f} s  ({runs / seconds:8.1f} runs/s)")


if __name__ == "__main__":
    main()
