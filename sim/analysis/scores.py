"""Proper scoring rules for the backtests (scoringrules), skill scores and their bootstrap intervals.

Every score is per unit (a day, a probability, a timing) and lower is better; a skill score
compares the mean score of a forecast with a baseline's over the same units: 1 is perfect, 0 no
better than the baseline, negative worse. Its interval resamples the units in pairs (the same
units for both), so it says how much the skill rests on a few of them.
"""

from __future__ import annotations

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def crps(observed: np.ndarray, ensemble: np.ndarray) -> np.ndarray:
    """CRPS of each observation against its ensemble (members on the last axis); a point forecast is an
    ensemble of one member, whose CRPS is the absolute error."""
    import scoringrules as sr

    ens = np.asarray(ensemble, dtype=float)
    obs = np.asarray(observed, dtype=float)
    if ens.ndim == obs.ndim:  # one member each
        ens = ens[..., None]
    return np.asarray(sr.crps_ensemble(obs, ens), dtype=float)


def brier(outcome: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Brier score of each forecast probability against its 0/1 outcome."""
    import scoringrules as sr

    return np.asarray(
        sr.brier_score(np.asarray(outcome, dtype=float), np.clip(np.asarray(probability, dtype=float), 0, 1)),
        dtype=float,
    )


def interval(observed: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Interval score of central (1 - alpha) intervals: their width plus 2/alpha per unit missed by."""
    import scoringrules as sr

    return np.asarray(
        sr.interval_score(
            np.asarray(observed, dtype=float),
            np.asarray(lower, dtype=float),
            np.asarray(upper, dtype=float),
            alpha,
        ),
        dtype=float,
    )


def covered(observed: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """1 where the observation lies inside its interval, else 0."""
    obs = np.asarray(observed, dtype=float)
    return ((obs >= np.asarray(lower)) & (obs <= np.asarray(upper))).astype(float)


def skill(score: np.ndarray, baseline: np.ndarray) -> float:
    """1 - mean score / mean baseline score (NaN when the baseline is perfect: no room to beat it)."""
    base = float(np.mean(baseline)) if len(baseline) else float("nan")
    if not base > 0:
        return float("nan")
    return 1.0 - float(np.mean(score)) / base


def skill_interval(
    score: np.ndarray, baseline: np.ndarray, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the skill score over paired bootstrap resamples of the units."""
    score, baseline = np.asarray(score, dtype=float), np.asarray(baseline, dtype=float)
    n = len(score)
    if n == 0 or not np.mean(baseline) > 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    base = baseline[picks].mean(axis=1)
    ok = base > 0
    values = 1.0 - score[picks].mean(axis=1)[ok] / base[ok]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
