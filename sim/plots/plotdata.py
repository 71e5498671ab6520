"""What a run's two figures show, as plain data: the tension fan chart's and the dyads' small multiples'.

The figures are drawn from these (daily quantile bands, labels, titles), never
from the runs themselves, so they can be drawn in another process: `sim run`
hands them to a figure worker (`sim/plots/worker.py`) while it goes on
simulating and writing tables. No matplotlib and no pandas here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.ensemble.executors import Ensemble
    from sim.results.result import Result

KINDS = ("tension", "dyads")  # a run folder's figures, in the order they are written
MAX_DYADS = 9


@dataclass(frozen=True)
class TensionPlot:
    """The global tension fan chart: bands, threshold, scripted events and its title's figures."""

    name: str
    runs: int
    runs_text: str  # "10,000 runs" or "replicate 17"
    dates: list[dt.datetime]
    bands: np.ndarray  # (quantiles, days): BAND_QUANTILES across runs; of one run, its values
    threshold: float
    scripted: list[tuple[int, str]]  # (day, label) of each scripted event within the run, in order
    clash: float  # share of runs with an armed clash
    peaks_text: str
    start: dt.date
    days: int


@dataclass(frozen=True)
class DyadsPlot:
    """The dyads' small multiples: the bands of the dyads worth showing, with their titles."""

    name: str
    dates: list[dt.datetime]
    days: int
    bands: np.ndarray  # (quantiles, days, chosen dyads)
    titles: list[str]  # "Serbia – Kosovo", one per chosen dyad
    runs: int  # runs the bands are made of
    runs_text: str  # "10,000 runs" or "first 1,000 of 10,000 runs"


def day_dates(start: dt.date, days: int) -> list[dt.datetime]:
    """Midnight of each day of a run, as the date axis takes them."""
    first = dt.datetime(start.year, start.month, start.day)
    return [first + dt.timedelta(days=k) for k in range(days)]


def runs_text(replicates: np.ndarray) -> str:
    n = len(replicates)
    return f"replicate {replicates[0]}" if n == 1 else f"{n:,} runs"


def tension_plot(result: Result) -> TensionPlot:
    """The fan chart's data from a finished result (its summary gives the title's figures)."""
    dates = day_dates(result.start_date, result.days)
    summary = result.summary()
    scripted = [
        (event.day, event.label or f"{event.actor}: {event.move}")
        for event in result.scripted
        if event.day < result.days
    ]
    return TensionPlot(
        name=result.scenario.name,
        runs=len(result.runs),
        runs_text=runs_text(result.runs),
        dates=dates,
        bands=result.tension_quantiles(),
        threshold=result.scenario.mechanisms.outcome.resolution_threshold,
        scripted=scripted,
        clash=summary.shares["armed clash"][0],
        peaks_text=_peaks_text(result, summary, dates),
        start=result.start_date,
        days=result.days,
    )


def _peaks_text(result: Result, summary, dates: list[dt.datetime]) -> str:
    """Two different peaks, each named: the median of the runs' own peaks, and the drawn median line's.

    Runs peak on different days, so the median of their peaks is higher than
    the peak of the day-by-day median line drawn in the chart.
    """
    s = summary
    if len(result.runs) == 1:
        return f"peak {s.median_peak_tension:.1f} on {s.median_peak_date:%d %b %Y}"
    line = result.tension_median()
    k = int(np.argmax(line))
    return (
        f"runs' own peaks: median {s.median_peak_tension:.1f}, median day {s.median_peak_date:%d %b %Y}; "
        f"the median line peaks at {line[k]:.1f} on {dates[k]:%d %b %Y}"
    )


def salient_dyads(salience: np.ndarray, peak: np.ndarray, pairs: list[tuple[int, int]]) -> list[int]:
    """Indices of the dyads worth plotting: adversarial ones and any with high tension."""
    scores = []
    for k, (i, j) in enumerate(pairs):
        if salience[i, j] > 0 or peak[k] >= 10:
            scores.append((-(salience[i, j] + peak[k] / 100.0), k))
    return [k for _, k in sorted(scores)[:MAX_DYADS]]


def dyads_plot(ensemble: Ensemble) -> DyadsPlot:
    """The small multiples' data, as soon as an ensemble has its dyads' bands (maybe while it runs)."""
    spec, pairs = ensemble.spec, ensemble.pairs
    chosen = salient_dyads(spec.salience[0], ensemble.dyad_peak, pairs) or list(
        range(min(MAX_DYADS, len(pairs)))
    )
    shown, total = ensemble.plot_runs, len(ensemble.replicates)
    return DyadsPlot(
        name=ensemble.crisis.name,
        dates=day_dates(ensemble.crisis.start_date, ensemble.days),
        days=ensemble.days,
        bands=ensemble.dyad_bands[:, :, chosen],
        titles=[f"{spec.names[pairs[k][0]]} – {spec.names[pairs[k][1]]}" for k in chosen],
        runs=shown,
        runs_text=runs_text(ensemble.replicates) if shown == total else f"first {shown:,} of {total:,} runs",
    )
