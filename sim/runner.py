"""The Python API's entry point: run a scenario's ensemble and get a Result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import UserError
from sim.loader import load_scenario, normalize_overrides
from sim.model import CrisisModel
from sim.results import Result
from sim.scenario import Scenario


def prepare(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    days: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> Scenario:
    """Load (or re-validate) a scenario with overrides; --days and --seed are overrides too."""
    extra = normalize_overrides(overrides)
    if days is not None:
        extra["days"] = days
    if seed is not None:
        extra["seed"] = seed
    if isinstance(scenario, Scenario):
        if not extra:
            return scenario
        scenario = scenario.model_dump(mode="json")
    return load_scenario(scenario, extra or None)


def run(
    scenario: Scenario | str | Path | Mapping[str, Any],
    *,
    runs: int = 1,
    replicate: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | list[str] | None = None,
    batch: Mapping[str, np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "fast",
) -> Result:
    """Run replicates 0..runs-1 (or replicate `replicate` alone) of a scenario.

    Args:
        scenario: a loaded Scenario, a path, a bundled scenario name, or a mapping.
        runs: number of replicates.
        replicate: run this replicate index alone (gives the same numbers as in a batch).
        days: number of days (default: the scenario's).
        seed: seed of the random streams (default: the scenario's).
        overrides: dotted paths to change, e.g. {"actors.russia.resolve": 0.9}.
        batch: per-replicate parameter values, dotted path -> array of length `runs`.
        progress: called as progress(days_done, days_total) after every day.
        engine: "fast" (the compiled kernel, all replicates at once) or "reference"
            (the plain-Python implementation, one replicate after another).
    """
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise UserError(f"expected a whole number of runs of at least 1, found {runs!r}", field="runs")
    if replicate is not None and (
        isinstance(replicate, bool) or not isinstance(replicate, (int, np.integer)) or replicate < 0
    ):
        raise UserError(f"expected a replicate index of 0 or more, found {replicate!r}", field="replicate")
    loaded = prepare(scenario, days=days, seed=seed, overrides=overrides)
    replicates = np.array([replicate]) if replicate is not None else np.arange(runs)
    if batch:
        for path, values in batch.items():
            if np.asarray(values).reshape(-1).shape[0] != len(replicates):
                raise UserError(f"expected {len(replicates)} values (one per replicate)", field=path)
    match engine:
        case "fast":
            model = CrisisModel(loaded, replicates=replicates, batch=batch)
            while model.running:
                model.step()
                if progress is not None:
                    progress(model.day, model.days)
        case "reference":
            if batch:
                raise UserError("per-replicate parameter batches need the fast engine", field="engine")
            from sim.reference import ReferenceEnsemble

            model = ReferenceEnsemble(loaded, replicates)
        case _:
            raise UserError(f"expected 'fast' or 'reference', found {engine!r}", field="engine")
    return Result(model, overrides=normalize_overrides(overrides))
