"""How each run ended, and the ensemble summary a reader can quote."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUTCOMES = ("resolved", "still tense", "armed clash")
# scipy.special.ndtri(0.5 + 0.5 * 0.95), the normal quantile of a 95% interval, to the bit (a test checks)
WILSON_Z = 1.959963984540054


def classify(
    tension: np.ndarray, settled: np.ndarray, clashed: np.ndarray, window: int
) -> dict[str, np.ndarray]:
    """Outcome, peak and resolution day of each run from its daily record.

    A run is resolved when its last `window` days are settled (no blocking
    posture, global tension under the threshold); its resolution day is the
    first day of that final calm stretch. Any armed clash makes it a clash.
    """
    t = settled.shape[1]
    unsettled = ~settled
    # index of the last unsettled day (-1 if none)
    last_bad = np.where(unsettled.any(axis=1), t - 1 - np.argmax(unsettled[:, ::-1], axis=1), -1)
    calm = t - 1 - last_bad
    resolved = calm >= min(window, t)
    resolution_day = np.where(resolved, last_bad + 1, -1)
    outcome = np.where(clashed, 2, np.where(resolved, 0, 1))
    return {
        "outcome": outcome,
        "peak_day": np.argmax(tension, axis=1),
        "peak_tension": tension.max(axis=1),
        "resolution_day": resolution_day,
    }


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound near 0 and 1)."""
    if n == 0:
        return (float("nan"), float("nan"))
    # scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson"), written out: the same operations
    # in the same order, so the same bits (tests/test_command_to_picture.py checks), without importing
    # scipy, which costs `sim run` a few tenths of a second to start
    p = k / n
    z = WILSON_Z
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * np.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else float(center - delta), 1.0 if k == n else float(center + delta))


@dataclass(frozen=True)
class Summary:
    """The headline figures of an ensemble."""

    scenario: str
    runs: int
    shares: dict[str, tuple[float, float, float]]  # outcome -> (share, low, high)
    median_peak_day: float
    median_peak_date: dt.date
    median_peak_tension: float
    median_resolution_day: float | None
    median_resolution_date: dt.date | None
    notes: tuple[str, ...] = ()  # what the reader must know besides the figures (scripted moves skipped)

    @classmethod
    def of(cls, scenario: str, outcomes: Mapping[str, np.ndarray], start: dt.date) -> Summary:
        """The summary of an outcomes table given as columns (outcome, peak_day, peak_tension and
        resolution_day, which a resolved run always has)."""
        outcome = np.asarray(outcomes["outcome"])
        n = len(outcome)
        shares = {}
        for name in OUTCOMES:
            k = int((outcome == name).sum())
            low, high = wilson(k, n)
            shares[name] = (k / n if n else float("nan"), low, high)
        resolved = np.asarray(outcomes["resolution_day"])[outcome == "resolved"]
        peak_day = float(np.median(outcomes["peak_day"]))
        res_day = float(np.median(resolved)) if len(resolved) else None
        return cls(
            scenario=scenario,
            runs=n,
            shares=shares,
            median_peak_day=peak_day,
            median_peak_date=start + dt.timedelta(days=round(peak_day)),
            median_peak_tension=float(np.median(outcomes["peak_tension"])),
            median_resolution_day=res_day,
            median_resolution_date=(
                start + dt.timedelta(days=round(res_day)) if res_day is not None else None
            ),
        )

    def lines(self) -> list[str]:
        """The summary as short lines of text."""
        out = [f"{self.scenario}: {self.runs} run{'s' if self.runs != 1 else ''}"]
        for name, (share, low, high) in self.shares.items():
            interval = f"  (95% CI {low:.1%}-{high:.1%})" if self.runs > 1 else ""
            out.append(f"  {name:<12} {share:6.1%}{interval}")
        out.append(
            f"  peak tension {self.median_peak_tension:.1f}/100 on day "
            f"{self.median_peak_day:g} ({self.median_peak_date:%d %b %Y})"
            + (" (medians)" if self.runs > 1 else "")
        )
        if self.median_resolution_day is None:
            out.append("  resolution   none of the runs resolved")
        else:
            out.append(
                f"  resolution   day {self.median_resolution_day:g} "
                f"({self.median_resolution_date:%d %b %Y})"
                + (" (median of resolved runs)" if self.runs > 1 else "")
            )
        out += [f"  {note}" for note in self.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def write_outcomes(path: Path, columns: Mapping[str, np.ndarray], float_format: str) -> None:
    """outcomes.csv from the table's columns, the bytes pandas' `to_csv(index=False, float_format=...)`
    writes (a test checks), without importing pandas: floats through `float_format`, a resolution day
    of -1 (none) and its date as empty fields, every field quoted only where CSV needs it.
    """
    text = {}
    for name, values in columns.items():
        if name == "resolution_day":
            text[name] = ["" if v < 0 else str(v) for v in values.tolist()]
        elif values.dtype.kind == "f":
            text[name] = [float_format % v for v in values.tolist()]
        else:
            text[name] = [str(v) for v in values.tolist()]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(text))
        writer.writerows(zip(*text.values(), strict=True))
