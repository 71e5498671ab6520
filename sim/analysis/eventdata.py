"""Simulated event logs side by side with real CAMEO-coded event data.

Any event file with the chronology's columns works (`date` or `day`, `actor`,
`target`, `cameo`, `goldstein`; actor codes as in the scenario's `code:`
fields), and so do a GDELT 2.0 event export and a run's own event log (one run
of it, chosen with `data_run`): all are read by `sim.scenario.record.read_event_data`,
which finds each event's actor by its code. The comparison: event counts by CAMEO root code and by actor, the
daily Goldstein sums against the ensemble's band, and forecast scores as
forecast evaluation uses them: the CRPS of the daily sums (scoringrules) and
the coverage of the 50% and 90% bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.runfolder import open_run_folder, write_files
from sim.errors import UserError
from sim.results.files import save_figure
from sim.scenario.record import read_event_data
from sim.scenario.schema import Scenario


@dataclass
class EventComparison:
    """Counts, daily Goldstein sums and scores of a simulated ensemble against event data."""

    scenario: Scenario
    runs: int
    by_root: pd.DataFrame
    by_actor: pd.DataFrame
    daily: pd.DataFrame  # day, observed, q05, q25, q50, q75, q95
    scores: dict[str, float]

    def lines(self) -> list[str]:
        s = self.scores
        return [
            f"{self.scenario.name}: {self.runs} simulated runs against "
            f"{s['observed_events']:.0f} observed events over {s['days']:.0f} days",
            f"  CRPS of the daily Goldstein sum: {s['crps']:.2f} (lower is better; "
            f"climatology of zero change: {s['crps_zero']:.2f})",
            "  band coverage (share of observed daily sums inside the ensemble's band):",
            f"    all {s['days']:.0f} days (a day with no recorded event counts as a sum of 0): "
            f"50% band {s['coverage_50']:.0%}, 90% band {s['coverage_90']:.0%}",
            f"    the {s['event_days']:.0f} days with recorded events only: "
            f"50% band {_percent(s['coverage_50_event_days'])}, "
            f"90% band {_percent(s['coverage_90_event_days'])}",
            "",
            "events by CAMEO root code (simulated mean per run vs observed):",
            self.by_root.to_string(index=False, float_format=lambda v: f"{v:.1f}"),
            "",
            "events by actor:",
            self.by_actor.to_string(index=False, float_format=lambda v: f"{v:.1f}"),
        ]

    def plot(self):
        from sim.plots import figures as plots

        return plots.events_vs_data_figure(self)

    def table(self) -> pd.DataFrame:
        """The daily table with the scores repeated on every row (events_vs_data.csv)."""
        return self.daily.assign(**self.scores)

    def save(self, folder: str | Path) -> list[Path]:
        """events_vs_data.csv and events_vs_data.png in `folder`: both appear, or neither does."""
        import matplotlib.pyplot as plt

        table, fig = self.table(), self.plot()
        try:
            return write_files(
                folder,
                {
                    "events_vs_data.csv": lambda p: table.to_csv(p, index=False, float_format="%.4f"),
                    "events_vs_data.png": lambda p: save_figure(fig, p, format="png"),
                },
            )
        finally:
            plt.close(fig)


def _percent(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.0%}"


def _share(inside: np.ndarray) -> float:
    """Share of True (NaN when there is nothing to count, e.g. no day with a recorded event)."""
    return float(np.mean(inside)) if len(inside) else float("nan")


def compare_events(
    run_dir: str | Path, data_path: str | Path, *, data_format: str = "auto", data_run: int | None = None
) -> EventComparison:
    """Score a run folder's event log against an event data file.

    `data_format` is "chronology", "gdelt" or "auto" (by the file's name); `data_run`
    picks one run when the data is an event log of several runs.
    """
    import scoringrules as sr

    folder = open_run_folder(run_dir)
    scenario = folder.scenario
    columns = {"run": "int", "day": "int", "actor": "str", "cameo": "str", "goldstein": "float"}
    sim = folder.table("events", columns)
    if sim.empty:
        raise UserError(
            "the event log is empty (was it run with --events none?); rerun with --events all or sample",
            source=str(folder.path),
        )
    runs = sorted(set(sim["run"]))
    sim = sim[sim["cameo"] != ""]  # a move without a CAMEO code is no event in event data
    obs = read_event_data(data_path, scenario, fmt=data_format, run=data_run)
    days = scenario.days
    sim_daily = np.zeros((len(runs), days))
    index = {r: k for k, r in enumerate(runs)}
    if len(sim):
        np.add.at(
            sim_daily, (sim["run"].map(index).to_numpy(), sim["day"].to_numpy()), sim["goldstein"].to_numpy()
        )
    observed = np.zeros(days)
    np.add.at(observed, obs["sim_day"].to_numpy(dtype=int), obs["goldstein"].to_numpy())
    counts = np.bincount(obs["sim_day"].to_numpy(dtype=int), minlength=days)
    q = np.quantile(sim_daily, (0.05, 0.25, 0.5, 0.75, 0.95), axis=0)
    daily = pd.DataFrame(
        {
            "day": np.arange(days),
            "observed": observed,
            "recorded_events": counts,
            "q05": q[0],
            "q25": q[1],
            "q50": q[2],
            "q75": q[3],
            "q95": q[4],
        }
    )
    crps = sr.crps_ensemble(observed, sim_daily.T)
    zero = np.abs(observed)  # CRPS of a forecast of zero with certainty
    inside_50 = (observed >= q[1]) & (observed <= q[3])
    inside_90 = (observed >= q[0]) & (observed <= q[4])
    event_days = counts > 0  # a day with no recorded event is "0" only if the record is complete
    scores = {
        "days": float(days),
        "observed_events": float(len(obs)),
        "event_days": float(event_days.sum()),
        "crps": float(np.mean(crps)),
        "crps_zero": float(np.mean(zero)),
        "coverage_50": float(np.mean(inside_50)),
        "coverage_90": float(np.mean(inside_90)),
        "coverage_50_event_days": _share(inside_50[event_days]),
        "coverage_90_event_days": _share(inside_90[event_days]),
    }
    sim["root"] = sim["cameo"].astype(str).str[:2]
    by_root = (
        pd.DataFrame(
            {
                "simulated_per_run": sim.groupby("root").size() / len(runs),
                "observed": obs.groupby("root").size(),
            }
        )
        .fillna(0)
        .rename_axis("cameo_root")
        .reset_index()
    )
    by_actor = (
        pd.DataFrame(
            {
                "simulated_per_run": sim.groupby("actor").size() / len(runs),
                "observed": obs.groupby("actor_id").size(),
            }
        )
        .fillna(0)
        .rename_axis("actor")
        .reset_index()
    )
    return EventComparison(scenario, len(runs), by_root, by_actor, daily, scores)
