"""The Python API's entry point: run a scenario's ensemble and get a Result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.ensemble.executors import SPILL_WORK, Ensemble, block_of, check_size, keep_events, run_distributed
from sim.ensemble.tables import SPILL_FORMATS
from sim.errors import UserError
from sim.model.lockstep import Lockstep
from sim.results.result import Result
from sim.scenario.batch import validate_batch
from sim.scenario.loader import load_scenario, normalize_overrides, with_overrides
from sim.scenario.schema import Scenario


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
        return with_overrides(scenario, extra)
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
    workers: int = 1,
    client: Any = None,
    events: str = "all",
    posterior: str | Path | bool | None = None,
    spill_format: str = "arrow",
    bands_ready: Callable[[Ensemble], None] | None = None,
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
        workers: run blocks of replicates in this many local processes.
        client: a `dask.distributed.Client`: run the blocks on its cluster.
        events: keep the event log of "all" runs, a seeded "sample" of about 100, or "none".
        posterior: a posterior.csv from calibration: each replicate draws its parameters from it.
            By default (None) the scenario's own posterior, if it names one; False runs the
            point values (the posterior medians the scenario carries). Values in `batch` win.
        spill_format: how a large ensemble's trajectories wait on disk while it runs: "arrow"
            (quick to write and to read back) or "parquet", the run folder's trajectories.parquet
            written row group by row group as the blocks finish, so that `save(data="parquet")`
            places that file instead of encoding the table a second time (what `sim run` does).
        bands_ready: called with the Ensemble once its dyads' bands are made (with a large ensemble,
            while the runs go on): `sim run` has their figure drawn then, beside the run.

    The numbers do not depend on `workers` or `client`: every draw is a function
    of (seed, replicate, day, purpose).
    """
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise UserError(f"expected a whole number of runs of at least 1, found {runs!r}", field="runs")
    if replicate is not None and (
        isinstance(replicate, bool) or not isinstance(replicate, (int, np.integer)) or replicate < 0
    ):
        raise UserError(f"expected a replicate index of 0 or more, found {replicate!r}", field="replicate")
    loaded = prepare(scenario, days=days, seed=seed, overrides=overrides)
    # refuse an ensemble this machine cannot hold before anything is allocated (as the CLI does)
    check_size(len(loaded.actors), 1 if replicate is not None else runs, loaded.days, events, workers)
    replicates = np.array([replicate]) if replicate is not None else np.arange(runs)
    # Per-replicate values never pass through pydantic: hold them to the schema's bounds here.
    batch = validate_batch(loaded, batch, "batch", size=len(replicates))
    posterior = _posterior_path(loaded, posterior)
    if posterior is not None:
        from sim.ensemble.posterior import draw_posterior

        drawn = draw_posterior(posterior, replicates, loaded.seed, loaded)  # every row checked
        # what the user set by hand holds in every replicate: a --set wins over the posterior draws
        chosen = normalize_overrides(overrides)
        drawn = {k: v for k, v in drawn.items() if k not in chosen}
        batch = {**validate_batch(loaded, drawn, str(posterior), size=len(replicates)), **batch}
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise UserError(
            f"expected a whole number of workers of at least 1, found {workers!r}", field="workers"
        )
    try:
        keep = keep_events(events, replicates, loaded.seed)
    except ValueError:
        raise UserError(f"expected all, sample or none, found {events!r}", field="events") from None
    if spill_format not in SPILL_FORMATS:
        raise UserError(f"expected arrow or parquet, found {spill_format!r}", field="spill_format")
    days_run = loaded.days
    match engine:
        case "fast" if client is not None or workers > 1 or len(replicates) * days_run > SPILL_WORK:
            model = run_distributed(
                loaded,
                replicates,
                days_run,
                loaded.seed,
                batch=batch,
                keep=keep,
                workers=workers,
                client=client,
                progress=progress,
                spill_format=spill_format,
                bands_ready=bands_ready,
            )
        case "fast":
            single = Lockstep(loaded, replicates=replicates, batch=batch, keep_events=keep)
            while single.running:
                single.step()
                if progress is not None:
                    progress(single.day, single.days)
            model = Ensemble(loaded, single.spec, replicates, days_run, loaded.seed, bands_ready=bands_ready)
            model.add(block_of(single))
            model.finish()
        case "reference":
            from sim.ensemble.executors import run_reference

            model = run_reference(loaded, replicates, keep=keep, batch=batch)
        case _:
            raise UserError(f"expected 'fast' or 'reference', found {engine!r}", field="engine")
    result = Result(model, overrides=normalize_overrides(overrides))
    result.posterior = Path(posterior) if posterior is not None else None
    return result


def _posterior_path(scenario: Scenario, posterior: str | Path | bool | None) -> Path | None:
    """The posterior file a run draws from: the one given, the scenario's own, or none."""
    if posterior is False:
        return None
    if posterior is None or posterior is True:
        if not scenario.posterior:
            if posterior is True:
                raise UserError("the scenario names no posterior", source=scenario.name, field="posterior")
            return None
        from sim.scenario.loader import locate

        return locate(scenario, scenario.posterior, field="posterior")
    return Path(posterior)
