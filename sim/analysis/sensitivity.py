"""Global sensitivity: which mechanism parameters drive the outcomes (SALib, Sobol' or Morris).

The seam between the model and the analysis library is `evaluate`: an (N, D)
array of parameter points in, an (N, K) array of outcomes out (the shape
SALib and the EMA Workbench expect). Every point runs the same replicates on
the same seed (common random numbers), and all points go through the engine
as per-replicate parameter batches, many points per batch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from sim.errors import UserError
from sim.model.model import CrisisModel
from sim.results.files import atomic_folder, save_figure, write_json
from sim.results.outcomes import classify
from sim.scenario.batch import validate_batch
from sim.scenario.schema import Mechanisms, Scenario

OUTPUTS = ("p_clash", "peak_tension", "days_to_resolution")
LABELS = {
    "p_clash": "P(armed clash)",
    "peak_tension": "mean peak tension",
    "days_to_resolution": "mean days to resolution",
}
REPLICATES_PER_BATCH = 10_000  # replicates per engine batch (memory: ~10 MB per 1,000 at 60 days)
BYTES_PER_REPLICATE_DAY = 200  # the engine's working memory per replicate and day (see above, rounded up)
BYTES_PER_POINT_RUN = len(OUTPUTS) * 8  # one run's outcomes at one parameter point, kept to the end
BYTES_PER_POINT_DIM = 16  # the design matrix and the per-replicate values built from it


def calibratable(scenario: Scenario | None = None) -> dict[str, tuple[float, float]]:
    """The mechanism parameters marked calibratable in the schema, with their ranges."""
    out = {}
    for name, field in Mechanisms.model_fields.items():
        extra = field.json_schema_extra or {}
        if "calibratable" in extra:
            out[f"mechanisms.{name}"] = tuple(extra["calibratable"])
        model = field.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            for sub, subfield in model.model_fields.items():
                extra = subfield.json_schema_extra or {}
                if "calibratable" in extra:
                    out[f"mechanisms.{name}.{sub}"] = tuple(extra["calibratable"])
    return out


def whole(value: object, field: str, low: int = 1) -> int:
    """A whole number of at least `low` (not a bool), or a one-line error naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UserError(f"expected a whole number of at least {low}, found {value!r}", field=field)
    return int(value)


def memory_needed(points: int, runs: int, days: int, dims: int, workers: int = 1) -> int:
    """Bytes an analysis of `points` parameter points x `runs` runs needs at its peak (an estimate).

    The per-run outcomes of every point are kept until the end; each engine batch
    (one per worker at a time) needs working memory for its replicate-days.
    """
    batch = min(points * runs, max(runs, (REPLICATES_PER_BATCH // runs) * runs))
    working = batch * days * BYTES_PER_REPLICATE_DAY * max(1, workers)
    return points * runs * BYTES_PER_POINT_RUN + points * dims * BYTES_PER_POINT_DIM + working


def available_memory() -> int:
    """Bytes of memory this machine can give now (psutil, which Dask installs)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_size(
    points: int, runs: int, days: int, dims: int, *, workers: int = 1, field: str, hint: str
) -> None:
    """Refuse, before anything is allocated, an analysis that cannot fit in memory."""
    needed = memory_needed(points, runs, days, dims, workers)
    free = available_memory()
    if needed > free:
        raise UserError(
            f"{points:,} parameter points x {runs:,} runs x {days} days need about {_bytes(needed)} "
            f"of memory, more than the {_bytes(free)} available; {hint}",
            field=field,
        )


def _bytes(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def outcomes_per_run(
    scenario: Scenario,
    names: list[str],
    points: np.ndarray,
    *,
    runs: int = 100,
    days: int | None = None,
    workers: int = 1,
    client=None,
    block: Callable[..., np.ndarray] | None = None,
) -> np.ndarray:
    """Per-run outcomes (N, runs, len(OUTPUTS)) of N parameter points, on common random numbers.

    Points go through the engine in batches; with `workers` or a Dask `client` the
    batches run in parallel, with the same numbers. `block` replaces the per-batch
    function (a module-level one, so worker processes can load it) for other outputs.
    """
    block = _outcomes_block if block is None else block
    points = np.atleast_2d(np.asarray(points, dtype=float))
    runs = whole(runs, "--runs")
    days = scenario.days if days is None else whole(days, "--days")
    workers = whole(workers, "--workers")
    check_size(len(points), runs, days, len(names), workers=workers, field="--runs", hint="use fewer --runs")
    validate_batch(scenario, {name: points[:, d] for d, name in enumerate(names)}, "parameter points")
    per_batch = max(1, REPLICATES_PER_BATCH // runs)
    jobs = [
        (scenario, names, points[lo : lo + per_batch], runs, days) for lo in range(0, len(points), per_batch)
    ]
    if client is not None:
        blocks = [f.result() for f in [client.submit(block, *job, pure=False) for job in jobs]]
    elif workers > 1 and len(jobs) > 1:
        from sim.ensemble.executors import worker_pool

        # the same pool as `sim run --workers`: a signal or an error stops the workers at once
        with worker_pool(workers) as pool:
            blocks = list(pool.map(block, *zip(*jobs, strict=True)))
    else:
        blocks = [block(*job) for job in jobs]
    return np.concatenate(blocks)


def _outcomes_block(
    scenario: Scenario, names: list[str], block: np.ndarray, runs: int, days: int
) -> np.ndarray:
    """One batch of points: (points, runs, outputs)."""
    replicates = np.tile(np.arange(runs), len(block))  # the same replicates at every point
    batch = {name: np.repeat(block[:, d], runs) for d, name in enumerate(names)}
    model = CrisisModel(
        scenario,
        replicates=replicates,
        days=days,
        batch=batch,
        keep_events=np.zeros(len(replicates), dtype=bool),
    )
    model.run()
    rec = model.recorder
    window = int(scenario.mechanisms.outcome.resolution_window)
    o = classify(rec.tension, rec.settled, model.state.clashed, window)
    duration = np.where(o["outcome"] == 0, o["resolution_day"], days).astype(float)
    per_run = np.stack([o["outcome"] == 2, o["peak_tension"], duration], axis=1).astype(float)
    model.recorder = model.state = None
    return per_run.reshape(len(block), runs, len(OUTPUTS))


def evaluate(
    scenario: Scenario,
    names: list[str],
    points: np.ndarray,
    *,
    runs: int = 100,
    days: int | None = None,
    workers: int = 1,
    client=None,
) -> np.ndarray:
    """Outcomes (N, len(OUTPUTS)) of N parameter points, each the mean over `runs` replicates."""
    return outcomes_per_run(
        scenario, names, points, runs=runs, days=days, workers=workers, client=client
    ).mean(axis=1)


@dataclass
class Sensitivity:
    """Indices per output and parameter, with their confidence intervals."""

    method: str
    table: pd.DataFrame
    points: int
    runs: int
    labels: ClassVar[dict[str, str]] = LABELS

    def plot(self):
        from sim.plots import figures as plots

        return plots.sensitivity_figure(self)

    def save(self, out: str | Path) -> Path:

        out = Path(out)
        with atomic_folder(out) as tmp:
            self.table.to_csv(tmp / "sensitivity.csv", index=False, float_format="%.4f")
            save_figure(self.plot(), tmp / "sensitivity.png")
            manifest = {"method": self.method, "points": self.points, "runs_per_point": self.runs}
            write_json(tmp / "manifest.json", manifest)
        return out


def check_ranges(
    scenario: Scenario, parameters: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Each parameter's (LOW, HIGH): finite, LOW < HIGH, both ends inside the schema's bounds."""
    out = {}
    for name, bounds in parameters.items():
        try:
            low, high = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise UserError(f"expected (LOW, HIGH), found {bounds!r}", field=f"--param {name}") from None
        if not low < high:  # also catches NaN
            raise UserError(f"expected LOW < HIGH, found {low:g}:{high:g}", field=f"--param {name}")
        validate_batch(scenario, {name: [low, high]}, "--param")
        out[name] = (low, high)
    return out


def check_design(
    scenario: Scenario,
    *,
    method: str,
    samples: int,
    runs: int,
    parameters: dict[str, tuple[float, float]] | None = None,
    days: int | None = None,
    workers: int = 1,
) -> dict[str, tuple[float, float]]:
    """Check a design before any work: method, sizes, ranges, and that it fits in memory."""
    if method not in ("sobol", "morris"):
        raise UserError(f"expected sobol or morris, found {method!r}", field="--method")
    samples = whole(samples, "--samples")
    runs = whole(runs, "--runs")
    parameters = check_ranges(scenario, parameters or calibratable(scenario))
    points = samples * (len(parameters) + (2 if method == "sobol" else 1))
    check_size(
        points,
        runs,
        scenario.days if days is None else whole(days, "--days"),
        len(parameters),
        workers=whole(workers, "--workers"),
        field="--samples",
        hint="use fewer --samples, --runs or --param",
    )
    return parameters


def analyse(
    scenario: Scenario,
    *,
    method: str = "sobol",
    samples: int = 64,
    runs: int = 100,
    parameters: dict[str, tuple[float, float]] | None = None,
    days: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    client=None,
) -> Sensitivity:
    """Sobol' (S1, ST) or Morris (mu*, sigma) indices of the outcomes over the parameters' ranges."""
    parameters = check_design(
        scenario, method=method, samples=samples, runs=runs, parameters=parameters, days=days, workers=workers
    )
    names = list(parameters)
    problem = {"num_vars": len(names), "names": names, "bounds": [list(parameters[n]) for n in names]}
    seed = scenario.seed if seed is None else seed
    rng_seed = int(seed % (2**32))
    match method:
        case "sobol":
            from SALib.analyze import sobol as analyzer
            from SALib.sample import sobol as sampler

            X = sampler.sample(problem, samples, calc_second_order=False, seed=rng_seed)
        case "morris":
            from SALib.analyze import morris as analyzer
            from SALib.sample import morris as sampler

            X = sampler.sample(problem, samples, num_levels=4, seed=rng_seed)
        case _:
            raise UserError(f"expected sobol or morris, found {method!r}", field="--method")
    Y = evaluate(scenario, names, X, runs=runs, days=days, workers=workers, client=client)
    rows = []
    for k, output in enumerate(OUTPUTS):
        y = Y[:, k]
        if method == "sobol":
            res = analyzer.analyze(problem, y, calc_second_order=False, seed=rng_seed)
            for d, name in enumerate(names):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "S1": res["S1"][d],
                        "S1_conf": res["S1_conf"][d],
                        "ST": res["ST"][d],
                        "ST_conf": res["ST_conf"][d],
                    }
                )
        else:
            res = analyzer.analyze(problem, X, y, num_levels=4, seed=rng_seed)
            for d, name in enumerate(names):
                rows.append(
                    {
                        "output": output,
                        "parameter": name,
                        "mu_star": res["mu_star"][d],
                        "mu_star_conf": res["mu_star_conf"][d],
                        "sigma": res["sigma"][d],
                    }
                )
    return Sensitivity(method, pd.DataFrame(rows), len(X), runs)
