"""Comparing what-ifs: the same replicates under each scenario, differences with bootstrap intervals.

Every scenario runs the same replicate indices with the same seed (common
random numbers), so run k of scenario B differs from run k of scenario A only
through the scenarios themselves. Each metric's difference to the first
scenario gets a 95% paired bootstrap interval (scipy.stats.bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis.sensitivity import whole
from sim.errors import UserError
from sim.results.files import atomic_folder, save_figure, write_json
from sim.results.result import Result
from sim.runner import prepare, run
from sim.scenario.schema import Scenario

RESOLVED_BY = 30  # the day in "P(resolved by day 30)"
BOOTSTRAP_RESAMPLES = 2000


def _durations(result: Result) -> np.ndarray:
    o = result.outcomes
    resolved = (o["outcome"] == "resolved").to_numpy()
    return np.where(resolved, o["resolution_day"].fillna(0).to_numpy(dtype=float), float(result.days))


METRICS: dict[str, tuple[str, Callable[[Result], np.ndarray], Callable[[np.ndarray], float]]] = {
    # name: (label, per-run values, statistic over runs)
    "p_clash": (
        "P(armed clash)",
        lambda r: (r.outcomes["outcome"] == "armed clash").to_numpy(float),
        np.mean,
    ),
    "p_resolved_by_30": (
        f"P(resolved by day {RESOLVED_BY})",
        lambda r: (
            (r.outcomes["outcome"] == "resolved")
            & (r.outcomes["resolution_day"].fillna(10**9) <= RESOLVED_BY)
        ).to_numpy(float),
        np.mean,
    ),
    "median_days_to_resolution": ("median days to resolution (unresolved = horizon)", _durations, np.median),
    "mean_peak_tension": (
        "mean peak tension (0-100)",
        lambda r: r.outcomes["peak_tension"].to_numpy(float),
        np.mean,
    ),
}


@dataclass
class Comparison:
    """Scenarios run on common random numbers, with the metric table."""

    results: list[Result]
    table: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return [r.scenario.name for r in self.results]

    def plot(self):
        """Fan charts of global tension, overlaid (median and 50% band per scenario)."""
        from sim.plots import figures as plots

        return plots.comparison_figure(self)

    def save(self, out: str | Path) -> Path:
        """Write comparison.csv, comparison.png and a manifest, atomically."""

        out = Path(out)
        with atomic_folder(out) as tmp:
            self.table.to_csv(tmp / "comparison.csv", index=False, float_format="%.4f")
            save_figure(self.plot(), tmp / "comparison.png")
            manifest = {
                "scenarios": self.names,
                "runs": len(self.results[0].runs),
                "seed": self.results[0].model.seed,
                "days": self.results[0].days,
                "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
                "interval": "95% paired percentile bootstrap",
            }
            write_json(tmp / "manifest.json", manifest)
        return out


def compare(
    scenarios: Sequence[Scenario | str | Path],
    *,
    runs: int = 1000,
    days: int | None = None,
    seed: int | None = None,
    **run_options: Any,
) -> Comparison:
    """Run every scenario on the same replicates and seed; tabulate each metric's difference to the first.

    The seed is the first scenario's unless given, so all scenarios share it.
    """
    if len(scenarios) < 2:
        raise UserError("expected at least two scenarios to compare", field="scenarios")
    runs = whole(runs, "--runs")  # before the first scenario runs
    loaded = [prepare(s, days=days) for s in scenarios]
    seed = loaded[0].seed if seed is None else seed
    horizon = loaded[0].days
    results = [run(sc, runs=runs, seed=seed, days=horizon, **run_options) for sc in loaded]
    rng = np.random.default_rng(seed)
    rows = []
    base = results[0]
    for result in results:
        for key, (label, values, statistic) in METRICS.items():
            a, b = values(base), values(result)
            value = float(statistic(b))
            diff, low, high = float(statistic(b) - statistic(a)), 0.0, 0.0
            if result is not base:
                low, high = _interval(a, b, statistic, rng)
            rows.append(
                {
                    "scenario": result.scenario.name,
                    "metric": key,
                    "label": label,
                    "value": value,
                    "difference": diff,
                    "ci_low": low,
                    "ci_high": high,
                    "excludes_zero": result is not base and (low > 0 or high < 0),
                }
            )
    return Comparison(results, pd.DataFrame(rows))


def _interval(a: np.ndarray, b: np.ndarray, statistic, rng) -> tuple[float, float]:
    """95% paired percentile-bootstrap interval of statistic(b) - statistic(a)."""
    if np.all(a == a[0]) and np.all(b == b[0]):
        d = float(statistic(b) - statistic(a))
        return d, d
    res = stats.bootstrap(
        (a, b),
        lambda x, y, axis=-1: _stat(statistic, y, axis) - _stat(statistic, x, axis),
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        random_state=rng,
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _stat(statistic, x: np.ndarray, axis: int) -> np.ndarray:
    return np.median(x, axis=axis) if statistic is np.median else np.mean(x, axis=axis)
