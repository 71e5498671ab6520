"""How fast does the dashboard answer? Times what its Run button does for 500 replicates.

    python benchmarks/bench_dashboard.py

The button runs the ensemble (sim.run), summarises it and draws the fan chart
and the dyads; the browser then shows the PNGs. Best of five after a warm-up.
"""

from __future__ import annotations

import io
import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from sim import load_scenario, run


def answer(scenario, runs: int) -> None:
    result = run(scenario, runs=runs, events="all")
    result.summary()
    for kind in ("tension", "dyads"):
        fig = result.plot(kind)
        fig.savefig(io.BytesIO(), format="png", dpi=110)
        plt.close(fig)


def main() -> None:
    sc = load_scenario("kosovo_2021")
    answer(sc, 10)
    best = min(_timed(lambda: answer(sc, 500)) for _ in range(5))
    print(
        f"{os.cpu_count()} cores: dashboard answer for 500 replicates x {sc.days} days "
        f"(run, summary, two figures): {best:.2f} s"
    )


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
