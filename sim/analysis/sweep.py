"""Parameter sweeps: outcome metrics over a grid of one or two parameters, with 95% intervals."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.analysis.sensitivity import LABELS, OUTPUTS, check_size, outcomes_per_run, whole
from sim.errors import UserError
from sim.results.files import atomic_folder, save_figure
from sim.results.outcomes import wilson
from sim.scenario.batch import validate_batch
from sim.scenario.schema import Scenario


def parse_vary_spec(text: str) -> tuple[str, float, float, int]:
    """`PATH=LOW:HIGH:STEPS` -> (path, low, high, steps), nothing allocated yet."""
    path, _, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        low, high, steps = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UserError(
            f"expected PATH=LOW:HIGH:STEPS with STEPS >= 2, found '{text}'", field="--vary"
        ) from None
    if steps < 2:
        raise UserError(f"expected STEPS >= 2, found {steps} in '{text}'", field="--vary")
    if not (np.isfinite(low) and np.isfinite(high)) or low == high:
        raise UserError(f"expected finite LOW and HIGH that differ, found '{text}'", field="--vary")
    return path.strip(), low, high, steps


def parse_vary(text: str) -> tuple[str, np.ndarray]:
    """`PATH=LOW:HIGH:STEPS` -> (path, evenly spaced values)."""
    path, low, high, steps = parse_vary_spec(text)
    _check_grid(steps, runs=1, days=1, dims=1)
    return path, np.linspace(low, high, steps)


def parse_grid(
    texts: list[str], scenario: Scenario, *, runs: int, days: int | None = None, workers: int = 1
) -> dict[str, np.ndarray]:
    """The --vary options as a grid, refused before anything is allocated if it cannot fit in memory."""
    specs = [parse_vary_spec(text) for text in texts]
    _check_axes([path for path, *_ in specs])
    points = int(np.prod([float(steps) for *_, steps in specs]))
    days = scenario.days if days is None else days
    _check_grid(points, runs=whole(runs, "--runs"), days=days, dims=len(specs), workers=workers)
    grid = {path: np.linspace(low, high, steps) for path, low, high, steps in specs}
    validate_batch(scenario, grid, "--vary")
    return grid


def _check_axes(names: list[str]) -> None:
    if not 1 <= len(names) <= 2:
        raise UserError("expected one or two --vary parameters", field="--vary")
    if len(set(names)) != len(names):
        raise UserError(f"expected two different parameters, found {names[0]} twice", field="--vary")


def _check_grid(points: int, *, runs: int, days: int, dims: int, workers: int = 1) -> None:
    check_size(
        points,
        runs,
        days,
        dims,
        workers=workers,
        field="--vary",
        hint="use fewer STEPS or --runs",
    )


@dataclass
class Sweep:
    """One row per grid point and metric: estimate and 95% interval."""

    names: list[str]
    table: pd.DataFrame
    runs: int
    scenario: str
    labels: ClassVar[dict[str, str]] = LABELS
    # a grid point holds the other parameters at the scenario's values: where the scenario names a
    # posterior, its point values (the posterior medians), not draws from it
    point_values_of: str | None = None

    def note(self) -> str | None:
        """The line that says the other parameters are point values, where the scenario has a posterior."""
        if self.point_values_of is None:
            return None
        return (
            f"note: every other parameter at {self.scenario}'s point values (the medians of "
            f"{self.point_values_of}), the same in every run, not drawn from the posterior as `sim run` does"
        )

    def plot(self):
        from sim.plots import figures as plots

        return plots.sweep_figure(self)

    def save(self, out: str | Path) -> Path:

        out = Path(out)
        with atomic_folder(out) as tmp:
            self.table.to_csv(tmp / "sweep.csv", index=False, float_format="%.4f")
            save_figure(self.plot(), tmp / "sweep.png")
            (tmp / "manifest.json").write_text(
                json.dumps(
                    {
                        "scenario": self.scenario,
                        "parameters": self.names,
                        "runs_per_point": self.runs,
                        "other_parameters": "point values" if self.point_values_of else "scenario values",
                        "posterior_not_drawn": self.point_values_of,
                    },
                    indent=2,
                )
                + "\n"
            )
        return out


def sweep(
    scenario: Scenario,
    vary: dict[str, np.ndarray],
    *,
    runs: int = 200,
    days: int | None = None,
    workers: int = 1,
    client=None,
) -> Sweep:
    """Run every grid point on the same replicates; estimate each metric with a 95% interval."""
    names = list(vary)
    _check_axes(names)
    runs = whole(runs, "--runs")
    days_run = scenario.days if days is None else whole(days, "--days")
    points = int(np.prod([float(len(np.atleast_1d(v))) for v in vary.values()]))
    _check_grid(points, runs=runs, days=days_run, dims=len(names), workers=whole(workers, "--workers"))
    vary = validate_batch(scenario, vary, "--vary")  # every value inside its field's bounds
    grid = np.array(list(itertools.product(*vary.values())))
    per_run = outcomes_per_run(scenario, names, grid, runs=runs, days=days, workers=workers, client=client)
    rows = []
    for g, point in enumerate(grid):
        for k, metric in enumerate(OUTPUTS):
            values = per_run[g, :, k]
            if metric == "p_clash":
                estimate = float(values.mean())
                low, high = wilson(int(values.sum()), len(values))
            else:
                estimate = float(values.mean())
                half = 1.96 * float(values.std(ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
                low, high = estimate - half, estimate + half
            rows.append(
                {
                    **{n: point[d] for d, n in enumerate(names)},
                    "metric": metric,
                    "estimate": estimate,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return Sweep(names, pd.DataFrame(rows), runs, scenario.name, point_values_of=scenario.posterior)
