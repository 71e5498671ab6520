"""The record in: a crisis's coded events, on the scenario's day axis, and the targets they give.

A scenario names its record (`record:`): an event file in the chronology
format and the key timings read from the chronology. Everything calibration
fits and forecasts are scored against comes from here, never from constants
in the code: the phases' mean daily Goldstein sums, each actor's share of the
events, the mix of CAMEO roots, the dated first moves, the day of the deal and
the day the standing postures ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import UserError, one_line, regular_file
from sim.scenario import cameo, gdelt
from sim.scenario.loader import locate
from sim.scenario.schema import Record, Scenario

REQUIRED = ("actor", "cameo", "goldstein")
ROOTS = tuple(f"{k:02d}" for k in range(1, 21))


FORMATS = ("auto", "chronology", "gdelt")


def read_event_data(
    path: str | Path, scenario: Scenario, *, fmt: str = "auto", run: int | None = None
) -> pd.DataFrame:
    """Read an event file and put its events on the scenario's day axis, with actor ids.

    Three kinds of file are read: the chronology format (CSV with `actor`,
    `cameo`, `goldstein` and `date` or `day`), a run's own event log
    (events.csv or events.parquet, found by its `actor_code` column), and a
    GDELT 2.0 event export (`fmt="gdelt"`, or "auto" with a name ending in
    .export.CSV). Actors are matched by the scenario's `code:` fields; the
    rest are "other: CODE". Rows with an empty `cameo` are notes, not events,
    and are left out; every other row needs a Goldstein weight from -10 to 10
    and a date (or a whole day). An event log of several runs is one run's
    record only when `run` picks it.
    """
    shown = str(path)
    if fmt not in FORMATS:
        raise UserError(f"expected one of {', '.join(FORMATS)}, found {fmt!r}", field="--data-format")
    if fmt == "gdelt" or (fmt == "auto" and gdelt.is_gdelt(path)):
        data = gdelt.read_gdelt(regular_file(path, "a GDELT 2.0 event export"), shown, scenario)
    else:
        data = _read_table(regular_file(path, "a CSV of CAMEO-coded events"), shown)
    data = _one_run(data, shown, run)
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
    data["actor_id"] = actor_ids(data, scenario)
    data["root"] = data["cameo"].str[:2]
    return data[(data["sim_day"] >= 0) & (data["sim_day"] < scenario.days)]


def actor_ids(data: pd.DataFrame, scenario: Scenario) -> pd.Series:
    """Each event's actor id: the scenario actor with the row's code, else "other: CODE".

    A run's event log carries the codes in `actor_code` and the ids in `actor`;
    its actors without a code are found by id, if the scenario has them.
    """
    codes = {a.code: aid for aid, a in scenario.actors.items() if a.code}
    if "actor_code" not in data.columns:
        return data["actor"].map(codes).fillna("other: " + data["actor"])
    by_code = data["actor_code"].map(codes)
    by_id = data["actor"].where(data["actor"].isin(list(scenario.actors)) & (data["actor_code"] == ""))
    own = data["actor_code"].where(data["actor_code"] != "", data["actor"])
    return by_code.fillna(by_id).fillna("other: " + own)


TEXT = {"cameo": str, "actor": str, "target": str, "date": str, "day": str, "goldstein": str}


def _read_table(path: Path, shown: str) -> pd.DataFrame:
    """A chronology or an event log as text columns, checked for the columns every reader needs."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            data = pq.read_table(path).to_pandas()
            for name in (TEXT.keys() | {"actor_code", "target_code"}) & set(data.columns):
                data[name] = data[name].astype(object).where(data[name].notna(), "").astype(str)
        else:
            data = pd.read_csv(
                path,
                dtype={**TEXT, "actor_code": str, "target_code": str},
                keep_default_na=False,
                encoding="utf-8",
            )
    except pd.errors.EmptyDataError:
        raise UserError("empty file; expected a CSV of CAMEO-coded events", source=shown) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise UserError(f"cannot read as CSV: {one_line(exc)}", source=shown) from None
    except Exception as exc:  # pyarrow's errors on a damaged Parquet file
        if type(exc).__module__.startswith("pyarrow"):
            raise UserError(f"cannot read as Parquet: {one_line(exc)}", source=shown) from None
        raise
    missing = [c for c in REQUIRED if c not in data.columns]
    if missing or ("date" not in data.columns and "day" not in data.columns):
        need = ", ".join([*REQUIRED, "date or day"])
        hint = " (a GDELT 2.0 event export? use --data-format gdelt)" if _tab_separated(path) else ""
        raise UserError(
            f"expected columns {need}; missing {', '.join(missing) or 'date/day'}{hint}", source=shown
        )
    return data


def _tab_separated(path: Path) -> bool:
    """Whether the first line has the tab-separated columns of a GDELT 2.0 event export."""
    with open(path, "rb") as fh:
        return fh.readline(2**16).count(b"\t") == len(gdelt.COLUMNS) - 1


def _one_run(data: pd.DataFrame, shown: str, run: int | None) -> pd.DataFrame:
    """One run of an event log (a file with a `run` column); any other file as it is."""
    if "run" not in data.columns:
        if run is not None:
            raise UserError("has no run column; --data-run applies to a run's event log", source=shown)
        return data
    runs = pd.to_numeric(data["run"], errors="coerce")
    found = sorted(set(runs.dropna().astype(int)))
    if run is None:
        if len(found) > 1:
            raise UserError(
                f"holds the events of {len(found)} runs ({found[0]} to {found[-1]}); "
                "expected the record of one: choose it with --data-run",
                source=shown,
            )
        return data
    if run not in found:
        shown_runs = f"{found[0]} to {found[-1]}" if found else "none"
        raise UserError(f"expected a run of the log ({shown_runs}), found {run}", field="--data-run")
    return data[runs == run]


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


def last_third(window: tuple[int, int]) -> tuple[int, int]:
    """The days of a record's window's last third, first and last (docs/model.md 8.1: a war that runs on)."""
    first, last = window
    return last - (last - first + 1) // 3 + 1, last


@dataclass(frozen=True)
class Targets:
    """What the record says, in the terms the model's output is summarised in (docs/model.md 8.1)."""

    window: tuple[int, int]
    phases: dict[str, tuple[int, int]]
    goldstein: dict[str, float]  # phase -> mean daily Goldstein sum
    actor_share: dict[str, float]  # actor id -> share of the events of the scenario's actors
    root_share: dict[str, float]  # CAMEO root -> share of the events
    events_per_day: float  # events of the scenario's actors per day of the window
    first_moves: dict[str, float]  # name -> day
    agreement_day: float | None
    resolution_day: float | None
    clash: bool
    late_violence: bool = False  # violence (CAMEO roots 18-20) in the window's last third


def targets(scenario: Scenario, events: pd.DataFrame | None = None) -> Targets:
    """The record's targets for a scenario (its own record file unless `events` is given)."""
    record: Record | None = scenario.record
    if record is None:
        raise UserError("the scenario names no record (add a `record:` section)", source=scenario.name)
    data = read_event_data(locate(scenario), scenario) if events is None else events
    first, last = record.window
    data = data[(data["sim_day"] >= first) & (data["sim_day"] <= last)]
    own = own_events(data, scenario)
    goldstein = {}
    for name, (a, b) in record.phases.items():
        # the scenario's actors' events only, as in the shares: the model cannot make the moves of
        # actors it does not have (2021: the Quint, UNMIK, the unidentified arsonists)
        part = own[(own["sim_day"] >= a) & (own["sim_day"] <= b)]
        goldstein[name] = float(part["goldstein"].sum()) / (b - a + 1)
    counts = own["actor_id"].value_counts()
    total = max(int(counts.sum()), 1)
    roots = data["root"].value_counts()
    return Targets(
        window=(first, last),
        phases=dict(record.phases),
        goldstein=goldstein,
        actor_share={a: float(counts.get(a, 0)) / total for a in scenario.actors},
        root_share={r: float(roots.get(r, 0)) / max(len(data), 1) for r in ROOTS},
        events_per_day=float(len(own)) / (last - first + 1),
        first_moves={k: float(v.day) for k, v in record.first_moves.items()},
        agreement_day=None if record.agreement_day is None else float(record.agreement_day),
        resolution_day=None if record.resolution_day is None else float(record.resolution_day),
        clash=record.clash,
        late_violence=bool(
            (
                (data["sim_day"] >= last_third((first, last))[0])
                & (data["root"].astype(int) >= cameo.RUNG_OF_ROOT.index(cameo.VIOLENCE))  # violence
            ).any()
        ),
    )


def own_events(data: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The events of the scenario's actors: what the model can make (not those of outside actors)."""
    return data[data["actor_id"].isin(list(scenario.actors))]


def daily_sums(data: pd.DataFrame, days: int) -> np.ndarray:
    """The record's Goldstein sum of each day 0..days-1."""
    out = np.zeros(days)
    part = data[(data["sim_day"] >= 0) & (data["sim_day"] < days)]
    np.add.at(out, part["sim_day"].to_numpy(int), part["goldstein"].to_numpy(float))
    return out
