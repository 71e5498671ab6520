"""Posterior files in: each replicate draws its parameters from a weighted posterior (`sim calibrate`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import UserError


def draw_posterior(path: str | Path, replicates: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per-replicate parameter values drawn from a posterior file (weighted), batch-invariantly."""
    from sim.model.rng import Purpose, uniforms

    try:
        posterior = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError("file not found", source=str(path)) from None
    names = [c for c in posterior.columns if c.startswith("mechanisms.")]
    if not names:
        raise UserError(
            "expected columns named mechanisms.* (a posterior.csv from `sim calibrate`)", source=str(path)
        )
    w = posterior["weight"].to_numpy(float) if "weight" in posterior else np.ones(len(posterior))
    cdf = np.cumsum(w) / w.sum()
    u = uniforms(seed, 0, Purpose.PARAMETER, replicates, 1)[:, 0]
    rows = np.minimum(np.searchsorted(cdf, u, side="right"), len(posterior) - 1)
    return {name: posterior[name].to_numpy(float)[rows] for name in names}


def scenario_draws(scenario, replicates: np.ndarray) -> dict[str, np.ndarray]:
    """The draws from the posterior the scenario names (none if it names none): what `run` uses by default."""
    if not scenario.posterior:
        return {}
    from sim.scenario.record import locate

    path = locate(scenario, scenario.posterior, field="posterior")
    return draw_posterior(path, np.asarray(replicates), scenario.seed)
