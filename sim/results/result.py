"""Results out: tables of a finished ensemble, its summary, and the run folder."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.ensemble.executors import BAND_QUANTILES, Ensemble
from sim.ensemble.tables import RUNS_PER_CHUNK, write_chunks
from sim.errors import UserError
from sim.model.scripted import REASONS as SKIP_REASONS
from sim.plots.plotdata import KINDS, dyads_plot, tension_plot
from sim.results.files import atomic_folder
from sim.results.outcomes import OUTCOMES, Summary, classify, write_outcomes

if TYPE_CHECKING:
    import pandas as pd

    from sim.plots.worker import FigureWorker

FLOAT_FORMAT = "%.4f"
AUTO_PARQUET_ROWS = 200_000  # trajectory rows (runs x days) above which "auto" writes Parquet

DEPENDENCIES = ("mesa", "numpy", "pandas", "scipy", "matplotlib", "pydantic", "pyyaml", "typer")


def scenario_digest(model: Ensemble) -> str:
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
        self, model: Ensemble, *, overrides: dict[str, Any] | None = None, command: list[str] | None = None
    ):
        self.model = model
        self.scenario = model.crisis
        self.overrides = dict(overrides or {})
        self.command = command
        self.runs = model.replicates
        self.days = model.days
        self.start_date = model.crisis.start_date
        self._tension = model.tension
        self.pairs = model.pairs
        self._outcome = classify(
            model.tension,
            model.settled,
            model.clashed,
            int(model.crisis.mechanisms.outcome.resolution_window),
        )
        self._events = model.events
        self.scripted = [e for e in model.crisis.events if e.move is not None]
        self.posterior: Path | None = None  # set when replicates drew their parameters from a posterior
        self.forecast: dict[str, Any] | None = None  # set by `sim forecast`: the as-of date and the replay

    # ------------------------------------------------------------ tables
    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.model.layout.dates

    def dyad_names(self) -> list[str]:
        return self.model.layout.dyads

    @cached_property
    def trajectories(self) -> pd.DataFrame:
        """One row per run and day: global tension, every dyad's tension, every actor's posture.

        For a large ensemble this reads the spilled table back; prefer
        `trajectory_chunks()` to go through it a block of runs at a time.
        """
        return self.model.store.frame()

    def trajectory_chunks(self):
        """The trajectory table, RUNS_PER_CHUNK runs at a time."""
        return self.model.store.chunks()

    @cached_property
    def events(self) -> pd.DataFrame:
        """The event log: who did what to whom, coded with CAMEO and Goldstein."""
        return self.model.layout.events(self.runs, self._events)

    def event_chunks(self):
        """The event log, RUNS_PER_CHUNK runs at a time (always at least one, maybe empty, chunk)."""

        for rows in self._event_rows():
            yield self.model.layout.events(self.runs, rows)

    def _event_tables(self):
        """event_chunks as pyarrow Tables, what the writers take (no pandas)."""
        for rows in self._event_rows():
            yield self.model.layout.event_arrow(self.runs, rows)

    def _event_rows(self):
        """The event table's rows, RUNS_PER_CHUNK runs at a time (at least one, maybe empty, chunk)."""
        ev = self._events
        n = len(self.runs)
        for lo in range(0, max(n, 1), RUNS_PER_CHUNK):
            a, b = np.searchsorted(ev[:, 0], [lo, lo + RUNS_PER_CHUNK])
            yield ev[a:b]

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """One row per run: outcome, day and height of the peak, day of resolution (<NA> if none)."""
        import pandas as pd

        columns = dict(self._outcome_columns)
        res = columns["resolution_day"]
        columns["resolution_day"] = pd.arrays.IntegerArray(res.astype(np.int64), res < 0)
        return pd.DataFrame(columns)

    @cached_property
    def _outcome_columns(self) -> dict[str, np.ndarray]:
        """The outcomes table as columns (no pandas): resolution_day is -1 where a run never resolved."""
        o = self._outcome
        res = o["resolution_day"]
        unresolved = res < 0
        # dates as YYYY-MM-DD, a whole column at a time (not a Timestamp per run)
        res_dates = np.datetime_as_string(np.datetime64(self.start_date, "D") + np.maximum(res, 0), unit="D")
        return {
            "run": self.runs,
            "outcome": np.array(OUTCOMES, dtype=object)[o["outcome"]],
            "peak_day": o["peak_day"],
            "peak_date": self.model.layout.date_text[o["peak_day"]],
            "peak_tension": o["peak_tension"],
            "resolution_day": res,
            "resolution_date": np.where(unresolved, "", res_dates).astype(object),
        }

    def summary(self) -> Summary:
        """Outcome shares with 95% intervals, median peak and resolution, and a note for every
        scripted move that did not happen in some runs."""
        summary = Summary.of(self.scenario.name, self._outcome_columns, self.start_date)
        return dataclasses.replace(
            summary, notes=tuple(scripted_notes(self.scripted_report(), len(self.runs), self.days))
        )

    def scripted_report(self) -> list[dict[str, Any]]:
        """Every scripted move of the scenario: in how many runs it did not happen, and why.

        The engine skips a scripted move in a run where its posture conditions fail that
        day; each run's events are checked as the run goes, whether its event log is kept
        or not (`events="none"` too). A move dated after the run's last day never comes.
        """
        missed = getattr(self.model, "scripted_missed", None)
        out = []
        for n, event in enumerate(self.scenario.events):
            if event.move is None:
                continue
            row: dict[str, Any] = {
                "event": n,
                "id": event.id,
                "day": event.day,
                "date": (self.start_date + dt.timedelta(days=event.day)).isoformat(),
                "actor": event.actor,
                "move": event.move,
                "target": event.target,
            }
            if event.day >= self.days:
                row.update(runs_without=len(self.runs), reasons={"after_the_last_day": len(self.runs)})
            elif missed is None:
                row.update(runs_without=None, reasons={})  # not counted by this engine
            else:
                counts = missed[n]
                row.update(
                    runs_without=int(counts.sum()),
                    reasons={key: int(c) for key, c in zip(SKIP_REASONS, counts, strict=True) if c},
                )
            out.append(row)
        return out

    def tension_quantiles(
        self, series: np.ndarray | None = None, qs: tuple[float, ...] = BAND_QUANTILES
    ) -> np.ndarray:
        """Daily quantiles across runs, (len(qs), days)."""
        data = self._tension_by_day if series is None else series
        return np.quantile(data, qs, axis=0)

    def tension_median(self) -> np.ndarray:
        """The median across runs of each day's global tension, (days,)."""
        return np.median(self._tension_by_day, axis=0)

    @cached_property
    def _tension_by_day(self) -> np.ndarray:
        """The global tension sorted within each day, (runs, days).

        Quantiles and medians are order statistics: from sorted days they are the same numbers,
        found in a third of the time (the fan chart's, the last step of `sim run` before its figure).
        """
        return np.sort(self._tension, axis=0)

    # ------------------------------------------------------------ figures
    def plot(self, kind: str = "tension"):
        """The tension fan chart ('tension') or the dyads' small multiples ('dyads')."""
        from sim.plots.render import draw

        return draw(kind, self.plot_data(kind))

    def plot_data(self, kind: str):
        """What figure `kind` shows, as plain data (sim.plots.plotdata): bands, labels, titles."""
        match kind:
            case "tension":
                return tension_plot(self)
            case "dyads":
                return dyads_plot(self.model)
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
            "first_replicate": int(self.runs[0]),
            "posterior": "posterior.csv" if self.posterior is not None else None,
            "days": int(self.days),
            "start_date": self.start_date.isoformat(),
            "versions": versions(),
            "command": self.command,
            "scripted": self.scripted_report(),
            **({"forecast": self.forecast} if self.forecast else {}),
        }

    def scenario_yaml(self) -> str:
        """The fully resolved scenario (extends and overrides applied): rerun it with `sim run`."""
        import yaml

        data = self.scenario.model_dump(mode="json", exclude={"extends"})
        header = (
            f"# Resolved scenario of this run (sha256 {scenario_digest(self.model)}).\n"
            "# `sim run scenario.yaml` reproduces the run; `sim explain .` replays it.\n"
        )
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def data_format(self, requested: str = "auto") -> str:
        """CSV for ordinary runs, Parquet once the trajectory table passes AUTO_PARQUET_ROWS."""
        match requested:
            case "csv" | "parquet":
                return requested
            case "auto":
                return "parquet" if self._tension.size > AUTO_PARQUET_ROWS else "csv"
            case _:
                raise UserError(f"expected csv, parquet or auto, found {requested!r}", field="--format-data")

    def save(
        self,
        out: str | Path,
        *,
        formats: tuple[str, ...] = ("png",),
        data: str = "auto",
        painter: FigureWorker | None = None,
    ) -> Path:
        """Write the run folder atomically: all files appear together or none do.

        Tables are written a block of runs at a time, so even ten thousand runs
        never exist as one DataFrame. With a `painter` (a figure worker, as `sim run`
        starts), the figures are drawn there while the tables are written here.
        """
        out = Path(out)
        data = self.data_format(data)
        with atomic_folder(out) as tmp:
            if painter is not None:
                for kind in KINDS:
                    if not painter.has(kind):
                        painter.submit(kind, self.plot_data(kind))
            self.model.store.write(tmp / "trajectories", data, FLOAT_FORMAT)
            quote = self.model.layout.codes_need_quotes  # an actor code with a comma, say
            write_chunks(tmp / "events", self._event_tables(), data, "%.1f", quote=quote)
            write_outcomes(tmp / "outcomes.csv", self._outcome_columns, FLOAT_FORMAT)
            manifest = {**self.manifest(), "data_format": data}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            (tmp / "scenario.yaml").write_text(self.scenario_yaml())
            if self.posterior is not None:  # replicates drew their parameters from it: keep it to replay them
                shutil.copyfile(self.posterior, tmp / "posterior.csv")
            self._save_figures(tmp, formats, painter)
        return out

    def _save_figures(self, folder: Path, formats: tuple[str, ...], painter: FigureWorker | None) -> None:
        """Each figure in each format: the worker's bytes, or drawn here (no worker, or it failed)."""
        for kind in KINDS:
            files = painter.collect(kind, formats) if painter is not None else None
            if files is None:  # matplotlib is imported here only when the figures are drawn here
                from sim.plots.render import render

                files = render(kind, self.plot_data(kind), formats)
            for fmt in formats:
                (folder / f"{kind}.{fmt}").write_bytes(files[fmt])

    def close(self) -> None:
        """Delete a large ensemble's spilled trajectory table now instead of at exit."""
        self.model.store.close()


def scripted_notes(report: list[dict[str, Any]], runs: int, days: int) -> list[str]:
    """One line per scripted move that did not happen in some runs, with the reasons, most frequent first."""
    lines = []
    for row in report:
        what = f"scripted '{row['id'] or row['move']}' ({row['actor']} {row['move']}"
        what += f" -> {row['target']}" if row["target"] else ""
        what += f", day {row['day']})"
        k = row["runs_without"]
        if k is None:
            lines.append(f"{what}: whether it happened in each run was not counted")
        elif "after_the_last_day" in row["reasons"]:
            lines.append(f"{what} never happened: it falls after the run's last day, day {days - 1}")
        elif k:
            share = f"{k / runs:.1%}" if k / runs < 0.01 else f"{k / runs:.0%}"  # 4 of 1,000 is not "0%"
            where = f"in {share} of runs ({k} of {runs})" if runs > 1 else "in this run"
            reasons = sorted(row["reasons"].items(), key=lambda kv: -kv[1])
            why = ", ".join(SKIP_REASONS[key] + (f" ({c})" if len(reasons) > 1 else "") for key, c in reasons)
            lines.append(f"{what} did not happen {where}: {why}")
    return lines


def default_run_dir(scenario: str, root: str | Path = "runs") -> Path:
    """`runs/<scenario>-<YYYYmmdd-HHMMSS>-<pid>`: no two running commands pick the same folder.

    The process id keeps concurrent commands apart (they all start in the same
    second); a counter keeps one process's successive folders apart.
    """
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{scenario}-{stamp}-{os.getpid()}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    return path
