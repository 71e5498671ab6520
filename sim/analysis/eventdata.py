"""Simulated event logs side by side with real CAMEO-coded event data.

Any event file with the chronology's columns works (`date` or `day`, `actor`,
`target`, `cameo`, `goldstein`; actor codes as in the scenario's `code:`
fields). The comparison: event counts by CAMEO root code and by actor, the
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
from sim.errors import UserError, one_line, regular_file
from sim.results.files import save_figure
from sim.scenario.schema import Scenario

REQUIRED = ("actor", "cameo", "goldstein")


def read_event_data(path: str | Path, scenario: Scenario) -> pd.DataFrame:
    """Read an event file and put its events on the scenario's day axis, with actor ids.

    Rows with an empty `cameo` are notes, not events, and are left out; every
    other row needs a Goldstein weight from -10 to 10 and a date (or a whole day).
    """
    shown = str(path)
    path = regular_file(path, "a CSV of CAMEO-coded events")
    try:
        data = pd.read_csv(
            path,
            dtype={"cameo": str, "actor": str, "target": str, "date": str, "day": str, "goldstein": str},
            keep_default_na=False,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        raise UserError("empty file; expected a CSV of CAMEO-coded events", source=shown) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise UserError(f"cannot read as CSV: {one_line(exc)}", source=shown) from None
    missing = [c for c in REQUIRED if c not in data.columns]
    if missing or ("date" not in data.columns and "day" not in data.columns):
        need = ", ".join([*REQUIRED, "date or day"])
        raise UserError(f"expected columns {need}; missing {', '.join(missing) or 'date/day'}", source=shown)
    data = data[data["cameo"].str.strip() != ""].copy()
    if "date" in data.columns:
        try:
            dates = pd.to_datetime(data["date"], format="%Y-%m-%d")
        except ValueError as exc:
            raise UserError(
                f"expected dates as YYYY-MM-DD: {one_line(exc)}", source=shown, field="date"
            ) from None
        data["sim_day"] = (dates - pd.Timestamp(scenario.start_date)).dt.days
    else:
        data["sim_day"] = _numbers(data["day"], shown, "day", whole=True)
    data["goldstein"] = _numbers(data["goldstein"], shown, "goldstein", bounds=(-10.0, 10.0))
    codes = {a.code: aid for aid, a in scenario.actors.items() if a.code}
    data["actor_id"] = data["actor"].map(codes).fillna("other: " + data["actor"])
    data["root"] = data["cameo"].str[:2]
    return data[(data["sim_day"] >= 0) & (data["sim_day"] < scenario.days)]


def _numbers(
    text: pd.Series, shown: str, field: str, *, whole: bool = False, bounds: tuple[float, float] | None = None
) -> pd.Series:
    """A column of numbers, or a one-line error naming the first bad row (counting the header as row 1)."""
    values = pd.to_numeric(text, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(float))
    if whole:
        bad |= values.to_numpy(float) != np.round(values.to_numpy(float))
    if bounds is not None:
        with np.errstate(invalid="ignore"):
            bad |= (values.to_numpy(float) < bounds[0]) | (values.to_numpy(float) > bounds[1])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        kind = "whole numbers" if whole else "numbers"
        span = f" from {bounds[0]:g} to {bounds[1]:g}" if bounds else ""
        raise UserError(
            f"expected {kind}{span}, found {text.iloc[k]!r} on line {int(text.index[k]) + 2}",
            source=shown,
            field=field,
        )
    return values


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


def compare_events(run_dir: str | Path, data_path: str | Path) -> EventComparison:
    """Score a run folder's event log against an event data file."""
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
    obs = read_event_data(data_path, scenario)
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
