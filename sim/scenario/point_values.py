"""A posterior's point values, read without pandas: what a scenario that names a posterior takes for
every parameter its file does not set (so `posterior:` in a scenario of one's own draws from it).

The point values are the weighted medians to two significant digits, the values `sim calibrate`
writes beside the posterior; `sim.ensemble.posterior` uses the same functions, so a scenario
holds exactly the values its replicates are recognised by.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

PREFIXES = ("mechanisms.", "roles.")


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    """The first value (in sorted order) at which the cumulative weight reaches half."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    total = math.fsum(weights)
    running = 0.0
    for k in order:
        running += weights[k]
        if running / total >= 0.5:
            return float(values[k])
    return float(values[order[-1]])


def rounded(value: float) -> float:
    """Two significant digits: the posterior is far wider than any third."""
    return float(f"{value:.2g}")


def read_point_values(path: str | Path) -> dict[str, float]:
    """The point value of each mechanisms.* and roles.* column of a posterior CSV; {} if the file cannot
    be read as one (the run reads it again and says what is wrong, on one line)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        names = [n for n in (rows[0] if rows else {}) if n.startswith(PREFIXES)]
        weights = [float(r["weight"]) if "weight" in r else 1.0 for r in rows]
        columns = {n: [float(r[n]) for r in rows] for n in names}
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError, csv.Error):
        return {}
    if not rows or not all(map(math.isfinite, weights)) or min(weights) < 0 or math.fsum(weights) <= 0:
        return {}
    return {n: rounded(weighted_median(v, weights)) for n, v in columns.items()}
