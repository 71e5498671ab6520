"""Simulated event logs side by side with real CAMEO-coded event data.

Any event file with the chronology's columns works (`date` or `day`, `actor`,
`target`, `cameo`, `goldstein`; actor codes as in the scenario's `code:`
fields). The comparison: event counts by CAMEO root code and by actor, the
daily Goldstein sums against the ensemble's band, and forecast scores as
forecast evaluation uses them: the CRPS of the daily sums (scoringrules) and
the coverage of the 50% and 90% bands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.scenario.loader import load_scenario
from sim.scenario.schema import Scenario

REQUIRED = ("actor", "cameo", "goldstein")


def read_event_data(path: str | Path, scenario: Scenario) -> pd.DataFrame:
    """Read an event file and put its events on the scenario's day axis, with actor ids."""
    path = Path(path)
    try:
        data = pd.read_csv(path, dtype={"cameo": str, "actor": str, "target": str}, keep_default_na=False)
    except FileNotFoundError:
        raise UserError("file not found", source=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read as CSV: {exc}", source=str(path)) from None
    missing = [c for c in REQUIRED if c not in data.columns]
    if missing or ("date" not in data.columns and "day" not in data.columns):
        need = ", ".join([*REQUIRED, "date or day"])
        raise UserError(
            f"expected columns {need}; missing {', '.join(missing) or 'date/day'}", source=str(path)
        )
    data = data[data["cameo"].str.strip() != ""].copy()
    if "date" in data.columns:
        try:
            dates = pd.to_datetime(data["date"], format="%Y-%m-%d")
        except ValueError as exc:
            raise UserError(f"expected dates as YYYY-MM-DD: {exc}", source=str(path), field="date") from None
        data["sim_day"] = (dates - pd.Timestamp(scenario.start_date)).dt.days
    else:
        data["sim_day"] = pd.to_numeric(data["day"], errors="coerce")
    data["goldstein"] = pd.to_numeric(data["goldstein"], errors="coerce")
    codes = {a.code: aid for aid, a in scenario.actors.items() if a.code}
    data["actor_id"] = data["actor"].map(codes).fillna("other: " + data["actor"])
    data["root"] = data["cameo"].str[:2]
    return data[(data["sim_day"] >= 0) & (data["sim_day"] < scenario.days)]


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
            f"  observed days inside the 50% band: {s['coverage_50']:.0%}, inside the 90% band: "
            f"{s['coverage_90']:.0%}",
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


def compare_events(run_dir: str | Path, data_path: str | Path) -> EventComparison:
    """Score a run folder's event log against an event data file."""
    import scoringrules as sr

    folder = Path(run_dir)
    if not (folder / "scenario.yaml").exists():
        raise UserError("not a run folder (expected scenario.yaml and an events table)", source=str(folder))
    scenario = load_scenario(folder / "scenario.yaml")
    manifest = json.loads((folder / "manifest.json").read_text())
    if (folder / "events.parquet").exists():
        sim = pd.read_parquet(folder / "events.parquet")
    else:
        sim = pd.read_csv(folder / "events.csv", dtype={"cameo": str}, keep_default_na=False)
    runs = sorted(set(sim["run"])) or [manifest.get("first_replicate", 0)]
    obs = read_event_data(data_path, scenario)
    days = scenario.days
    sim_daily = np.zeros((len(runs), days))
    index = {r: k for k, r in enumerate(runs)}
    if len(sim):
        np.add.at(
            sim_daily, (sim["run"].map(index).to_numpy(), sim["day"].to_numpy()), sim["goldstein"].to_numpy()
        )
    observed = np.zeros(days)
    np.add.at(observed, obs["sim_day"].to_numpy(dtype=int), obs["goldstein"].fillna(0).to_numpy())
    q = np.quantile(sim_daily, (0.05, 0.25, 0.5, 0.75, 0.95), axis=0)
    daily = pd.DataFrame(
        {
            "day": np.arange(days),
            "observed": observed,
            "q05": q[0],
            "q25": q[1],
            "q50": q[2],
            "q75": q[3],
            "q95": q[4],
        }
    )
    crps = sr.crps_ensemble(observed, sim_daily.T)
    zero = np.abs(observed)  # CRPS of a forecast of zero with certainty
    scores = {
        "days": float(days),
        "observed_events": float(len(obs)),
        "crps": float(np.mean(crps)),
        "crps_zero": float(np.mean(zero)),
        "coverage_50": float(np.mean((observed >= q[1]) & (observed <= q[3]))),
        "coverage_90": float(np.mean((observed >= q[0]) & (observed <= q[4]))),
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
