"""The day step alone: 10,000 runs x 180 days of the bundled scenario (posterior draws) on one numba
thread, and the plain-Python reference per run, with the ratio per run.

    python benchmarks/bench_engine.py [--threads 1] [--runs 10000] [--days 180]
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from sim import load_scenario
from sim.ensemble.posterior import scenario_draws
from sim.model.model import CrisisModel
from sim.model.reference import ReferenceModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=180)
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    sc = load_scenario("kosovo_2021")
    runs, days = args.runs, args.days
    batch = scenario_draws(sc, np.arange(runs))
    CrisisModel(sc, replicates=50, days=10, batch={k: v[:50] for k, v in batch.items()}).run()  # warm
    start = time.perf_counter()
    CrisisModel(sc, replicates=runs, days=days, batch=batch).run()
    fast = time.perf_counter() - start
    print(
        f"fast engine, {args.threads} thread(s): {runs:,} x {days} in {fast:.1f} s "
        f"= {fast / runs / days * 1e6:.2f} us per replicate-day"
    )
    start = time.perf_counter()
    for k in range(5):
        model = ReferenceModel(sc, replicate=k, days=days)
        while model.running:
            model.step()
    ref = (time.perf_counter() - start) / 5
    ratio = ref / (fast / runs)
    print(f"reference: {ref:.2f} s per run of {days} days; fast engine {ratio:.0f}x faster per run")


if __name__ == "__main__":
    main()
