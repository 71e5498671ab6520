"""Results out: tables of a finished ensemble, its summary, and the run folder."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.model import EVENT_KINDS, CrisisModel
from sim.outcomes import OUTCOMES, Summary, classify

FLOAT_FORMAT = "%.4f"
DEPENDENCIES = ("mesa", "numpy", "pandas", "scipy", "matplotlib", "pydantic", "pyyaml", "typer")


def scenario_digest(model: CrisisModel) -> str:
    """sha256 of the fully resolved scenario (after extends and overrides)."""
    text = json.dumps(model.crisis.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of the package, its dependencies and Python, for the manifest."""
    out = {"python": sys.version.split()[0]}
    for name in ("crisis-sim", *DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class Result:
    """A finished ensemble: `.trajectories`, `.events`, `.outcomes`, `.summary()`, `.save()`."""

    def __init__(
        self, model: CrisisModel, *, overrides: dict[str, Any] | None = None, command: list[str] | None = None
    ):
        self.model = model
        self.scenario = model.crisis
        self.overrides = dict(overrides or {})
        self.command = command
        rec = model.recorder
        self.runs = model.replicates
        self.days = model.days
        self.start_date = model.crisis.start_date
        self._tension = rec.tension
        self._dyads = rec.dyads
        self._posture = rec.posture
        self.pairs = rec.pairs
        self._outcome = classify(
            rec.tension,
            rec.settled,
            model.state.clashed,
            int(model.crisis.mechanisms.outcome.resolution_window),
        )
        self._events = rec.event_table()
        self.scripted = [e for e in model.crisis.events if e.move is not None]

    # ------------------------------------------------------------ tables
    @cached_property
    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start_date, periods=self.days, freq="D")

    def dyad_names(self) -> list[str]:
        ids = self.model.spec.actor_ids
        return [f"{ids[i]}-{ids[j]}" for i, j in self.pairs]

    @cached_property
    def trajectories(self) -> pd.DataFrame:
        """One row per run and day: global tension, every dyad's tension, every actor's posture."""
        r, t = self._tension.shape
        frame = {
            "run": np.repeat(self.runs, t),
            "day": np.tile(np.arange(t), r),
            "date": np.tile(self.dates.strftime("%Y-%m-%d"), r),
            "tension": self._tension.reshape(-1),
        }
        for k, name in enumerate(self.dyad_names()):
            frame[f"tension_{name}"] = self._dyads[:, :, k].reshape(-1)
        for i, actor in enumerate(self.model.spec.actor_ids):
            frame[f"posture_{actor}"] = self._posture[:, :, i].reshape(-1)
        return pd.DataFrame(frame)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log: who did what to whom, coded with CAMEO and Goldstein."""
        ev = self._events
        spec = self.model.spec
        ids = np.array(spec.actor_ids, dtype=object)
        mv = spec.moves
        cameo = np.array([c or "" for c in mv.cameo], dtype=object)
        return pd.DataFrame(
            {
                "run": self.runs[ev[:, 0]],
                "day": ev[:, 1],
                "date": self.dates[ev[:, 1]].strftime("%Y-%m-%d") if len(ev) else [],
                "actor": ids[ev[:, 2]],
                "target": ids[ev[:, 3]],
                "move": np.array(mv.ids, dtype=object)[ev[:, 4]],
                "cameo": cameo[ev[:, 4]],
                "goldstein": mv.goldstein[ev[:, 4]],
                "kind": np.array(EVENT_KINDS, dtype=object)[ev[:, 5]],
            }
        )

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """One row per run: outcome, day and height of the peak, day of resolution."""
        o = self._outcome
        res = o["resolution_day"]
        start = pd.Timestamp(self.start_date)
        res_dates = [(start + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d") if d >= 0 else "" for d in res]
        return pd.DataFrame(
            {
                "run": self.runs,
                "outcome": np.array(OUTCOMES, dtype=object)[o["outcome"]],
                "peak_day": o["peak_day"],
                "peak_date": self.dates[o["peak_day"]].strftime("%Y-%m-%d"),
                "peak_tension": o["peak_tension"],
                "resolution_day": pd.array([int(d) if d >= 0 else pd.NA for d in res], dtype="Int64"),
                "resolution_date": res_dates,
            }
        )

    def summary(self) -> Summary:
        """Outcome shares with 95% intervals, median peak and resolution."""
        return Summary.of(self.scenario.name, self.outcomes, self.start_date)

    def tension_quantiles(
        self, series: np.ndarray | None = None, qs: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
    ) -> np.ndarray:
        """Daily quantiles across runs, (len(qs), days)."""
        data = self._tension if series is None else series
        return np.quantile(data, qs, axis=0)

    # ------------------------------------------------------------ figures
    def plot(self, kind: str = "tension"):
        """The tension fan chart ('tension') or the dyads' small multiples ('dyads')."""
        from sim import plots

        match kind:
            case "tension":
                return plots.tension_figure(self)
            case "dyads":
                return plots.dyads_figure(self)
            case _:
                raise ValueError(f"unknown plot kind {kind!r}; expected 'tension' or 'dyads'")

    # ------------------------------------------------------------ files
    def manifest(self) -> dict[str, Any]:
        single = len(self.runs) == 1
        return {
            "scenario": self.scenario.name,
            "scenario_sha256": scenario_digest(self.model),
            "overrides": self.overrides,
            "seed": self.model.seed,
            "runs": len(self.runs),
            "replicates": [int(self.runs[0])] if single else f"{self.runs[0]}..{self.runs[-1]}",
            "days": int(self.days),
            "start_date": self.start_date.isoformat(),
            "versions": versions(),
            "command": self.command,
        }

    def save(self, out: str | Path, *, formats: tuple[str, ...] = ("png",)) -> Path:
        """Write the run folder atomically: all files appear together or none do."""
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError("already exists and is not empty; choose another --out", source=str(out))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:
            self.trajectories.to_csv(tmp / "trajectories.csv", index=False, float_format=FLOAT_FORMAT)
            self.events.to_csv(tmp / "events.csv", index=False, float_format="%.1f")
            self.outcomes.to_csv(tmp / "outcomes.csv", index=False, float_format=FLOAT_FORMAT)
            (tmp / "manifest.json").write_text(json.dumps(self.manifest(), indent=2) + "\n")
            self._save_figures(tmp, formats)
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    def _save_figures(self, folder: Path, formats: tuple[str, ...]) -> None:
        import matplotlib.pyplot as plt

        for kind in ("tension", "dyads"):
            fig = self.plot(kind)
            for fmt in formats:
                fig.savefig(folder / f"{kind}.{fmt}", dpi=150, metadata=_figure_metadata(fmt))
            plt.close(fig)


def _figure_metadata(fmt: str) -> dict[str, Any]:
    # No creation dates in the files, so identical runs write identical figures where possible.
    match fmt:
        case "png":
            return {"Software": None}
        case "svg":
            return {"Date": None}
        case "pdf":
            return {"CreationDate": None}
        case _:
            return {}


def default_run_dir(scenario: str, root: str | Path = "runs") -> Path:
    """`runs/<scenario>-<YYYYmmdd-HHMMSS>`, made unique if several runs start in one second."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{scenario}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    return path
