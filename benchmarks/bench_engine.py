"""The day step alone: the fast engine on 10,000 runs x 180 days of the bundled scenario (posterior
draws) on 1 and 2 threads, the plain-Python reference per run and the ratio per run, and the engine's
cold compile time (a fresh process with an empty numba cache).

    python benchmarks/bench_engine.py [--runs 10000] [--days 180] [--repeats 3] [--threads 1 2]

Timings are medians of the repeats, wall clock and the process's CPU time; the load average is
printed with them, since on a shared machine the other processes' work shows in the wall clock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

SCENARIO = "kosovo_2021"
COLD = """
import time
t0 = time.perf_counter()
from sim import load_scenario
from sim.model.model import CrisisModel
sc = load_scenario("{scenario}")
t1, c1 = time.perf_counter(), time.process_time()
CrisisModel(sc, replicates=2, days=2).run()
print(time.perf_counter() - t1, time.process_time() - c1, t1 - t0)
"""


def cold_compile(scenario: str) -> tuple[float, float, float]:
    """Seconds of the first run in a fresh process with an empty numba cache: wall, CPU; and the imports'."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run(
            [sys.executable, "-c", COLD.format(scenario=scenario)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    first, cpu, imports = (float(x) for x in out.stdout.split())
    return first, cpu, imports


def time_engine(sc, batch: dict, runs: int, days: int, threads: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of CrisisModel(...).run() on `threads` threads."""
    from sim.model.model import CrisisModel

    numba.set_num_threads(threads)
    CrisisModel(sc, replicates=50, days=10, batch={k: v[:50] for k, v in batch.items()}).run()  # warm
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        CrisisModel(sc, replicates=runs, days=days, batch=batch).run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reference-runs", type=int, default=5)
    ap.add_argument("--no-cold", action="store_true", help="skip the cold compile (about 10-20 s)")
    args = ap.parse_args()
    from sim import load_scenario
    from sim.ensemble.posterior import scenario_draws
    from sim.model.reference import ReferenceModel

    runs, days = args.runs, args.days
    print(
        f"{SCENARIO}, posterior draws; {os.cpu_count()} cores, numba {numba.__version__}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    if not args.no_cold:
        first, cpu, imports = cold_compile(SCENARIO)
        print(
            f"cold compile (empty numba cache, first run of 2 x 2): {first:.1f} s (CPU {cpu:.1f} s; "
            f"imports {imports:.1f} s; load {os.getloadavg()[0]:.2f})"
        )
    sc = load_scenario(SCENARIO)
    batch = scenario_draws(sc, np.arange(runs))
    fast = {}
    for threads in args.threads:
        wall, cpu = time_engine(sc, batch, runs, days, threads, args.repeats)
        fast[threads] = wall
        print(
            f"fast engine, {threads} thread(s): {runs:,} x {days} in {wall:.2f} s "
            f"= {wall / runs / days * 1e6:.2f} us per replicate-day (CPU {cpu:.2f} s, "
            f"{cpu / runs / days * 1e6:.2f} us; median of {args.repeats}; load {os.getloadavg()[0]:.2f})"
        )
    start = time.perf_counter()
    for k in range(args.reference_runs):
        model = ReferenceModel(sc, replicate=k, days=days)
        while model.running:
            model.step()
    ref = (time.perf_counter() - start) / args.reference_runs
    print(f"reference: {ref:.2f} s per run of {days} days (mean of {args.reference_runs})")
    for threads, wall in fast.items():
        print(f"  fast engine on {threads} thread(s) is {ref / (wall / runs):,.0f}x the reference per run")


if __name__ == "__main__":
    main()
