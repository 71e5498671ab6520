"""Parameter sweeps: outcome metrics over a grid of one or two parameters, with 95% intervals."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.analysis.sensitivity import LABELS, OUTPUTS, outcomes_per_run
from sim.errors import UserError
from sim.results.files import atomic_folder, save_figure
from sim.results.outcomes import wilson
from sim.scenario.schema import Scenario


def parse_vary(text: str) -> tuple[str, np.ndarray]:
    """`PATH=LOW:HIGH:STEPS` -> (path, evenly spaced values)."""
    path, _, spec = text.partition("=")
    parts = spec.split(":")
    try:
        low, high, steps = float(parts[0]), float(parts[1]), int(parts[2])
        if steps < 2 or len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise UserError(
            f"expected PATH=LOW:HIGH:STEPS with STEPS >= 2, found '{text}'", field="--vary"
        ) from None
    return path.strip(), np.linspace(low, high, steps)


@dataclass
class Sweep:
    """One row per grid point and metric: estimate and 95% interval."""

    names: list[str]
    table: pd.DataFrame
    runs: int
    scenario: str
    labels: ClassVar[dict[str, str]] = LABELS

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
                    {"scenario": self.scenario, "parameters": self.names, "runs_per_point": self.runs},
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
    if not 1 <= len(vary) <= 2:
        raise UserError("expected one or two --vary parameters", field="--vary")
    names = list(vary)
    grid = np.array(list(itertools.product(*vary.values())))
    from sim.model.spec import compile_spec

    try:
        compile_spec(scenario, {name: grid[:1, d] for d, name in enumerate(names)})
    except Exception as exc:  # an unknown path reads as a user error, with the field
        raise UserError(str(exc), field="--vary") from None
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
    return Sweep(names, pd.DataFrame(rows), runs, scenario.name)
