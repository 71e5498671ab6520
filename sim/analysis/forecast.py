"""A live crisis forecast: what has happened so far replayed, the rest simulated (`sim forecast`).

The observed events come in the records' format (CSV with `date`, `actor`, `target`, `cameo`,
`goldstein`; actor codes as in the scenario's `code:` fields). Every event up to the as-of date is
replayed as the scenario's history (`sim.analysis.replay`), and the ensemble runs from the next
day to the scenario's last, through the same runner and run folder as `sim run`. The file comes
from outside, so it is checked first: a missing column or a bad value is a one-line error naming
the file and the column. Events by actors the scenario does not have (the record's third parties)
and events after the as-of date are left out and counted in the output, never dropped silently, so
a whole chronology or export can be given as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.replay import Replay, as_of
from sim.errors import UserError, one_line
from sim.results.result import Result
from sim.runner import _posterior_path, run
from sim.scenario.record import read_event_data
from sim.scenario.schema import Scenario


def parse_date(text: str, field: str = "--as-of") -> dt.date:
    """A date given as YYYY-MM-DD, or a one-line error naming the option."""
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        found = one_line(repr(text))[:40]
        raise UserError(f"expected a date YYYY-MM-DD, found {found}", field=field) from None


def read_observed(path: str | Path, scenario: Scenario) -> pd.DataFrame:
    """The observed events on the scenario's day axis, every row checked (`read_event_data`), in a
    file that dates them: a forecast is as of a date."""
    data = read_event_data(path, scenario, fmt="chronology")
    if "date" not in data.columns:
        raise UserError("expected a date column (YYYY-MM-DD) for a forecast as of a date", source=str(path))
    return data


@dataclass
class Forecast:
    """The ensemble run from the day after the as-of date, and what of the past it replayed."""

    result: Result
    replay: Replay
    as_of: dt.date
    observed: int  # observed events (with a CAMEO code) up to the as-of date
    later: int = 0  # events of the file after the as-of date, left out

    def lines(self) -> list[str]:
        after = f" ({self.later} after the as-of date left out)" if self.later else ""
        return [
            f"forecast of {self.replay.scenario.name} as of {self.as_of.isoformat()}: "
            f"{self.observed} observed events{after}; {self.replay.note()}; "
            f"simulated from {self.result.start_date.isoformat()}",
            *self.result.summary().lines(),
        ]


def forecast(
    scenario: Scenario,
    observed: str | Path,
    as_of_date: dt.date | str,
    *,
    runs: int = 1000,
    seed: int | None = None,
    posterior: str | Path | bool | None = None,
    **run_options: Any,
) -> Forecast:
    """Replay the observed events up to `as_of_date` and run the ensemble from the next day.

    `posterior` as in `sim.run`: by default the scenario's own; False runs its point values.
    """
    when = parse_date(as_of_date) if isinstance(as_of_date, str) else as_of_date
    last = scenario.start_date + dt.timedelta(days=scenario.days - 2)
    if not scenario.start_date <= when <= last:
        raise UserError(
            f"expected a date from the start date {scenario.start_date} to {last} (a day before the "
            f"scenario's last, so that there is a day to forecast), found {when}",
            field="--as-of",
        )
    data = read_observed(observed, scenario)
    path = _posterior_path(scenario, posterior)
    origin = (when - scenario.start_date).days + 1
    later = int((data["sim_day"] >= origin).sum())
    data = data[data["sim_day"] < origin]
    replay = as_of(
        scenario, data, origin, keep_later_events=True, posterior=str(path) if path is not None else None
    )
    own = False if path is None else None  # the re-based scenario names the posterior itself
    result = run(replay.scenario, runs=runs, seed=seed, posterior=own, **run_options)
    result.forecast = {
        "as_of": when.isoformat(),
        "observed_file": str(observed),
        "observed_events": len(data),
        "after_as_of_left_out": later,
        "replayed_as_history": replay.replayed,
        "skipped": replay.skipped,
        "original_start_date": scenario.start_date.isoformat(),
    }
    return Forecast(result, replay, when, len(data), later)
