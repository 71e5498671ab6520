"""Scenario discovery: the parameter regions where an outcome is likely (PRIM, EMA Workbench).

The calibratable parameters (or those chosen) are sampled with a Latin
hypercube; every point runs the same replicates (common random numbers, as in
`sim sensitivity`) through the engine as per-replicate batches, and is marked
by the share of its runs that end in the outcome. PRIM (Friedman and Fisher;
the EMA Workbench's implementation, as scenario discovery uses it) then peels
boxes: regions of parameter space where that share is high.

Each box is the densest one on PRIM's peeling trajectory that still holds at
least `min_coverage` of the outcome's remaining cases. Restrictions whose
quasi-p value (Bryant and Lempert 2010; counted in runs, see `_significant`)
is above `alpha` are dropped, the least significant first. A box left with no
restriction, or whose runs end in the outcome not significantly more often
than the base rate says, is no box, and the search stops there. A box
reports its coverage (the share of all the outcome's cases inside it), its
density (the outcome's share inside it, next to the base rate over all
points), its mass (the share of points inside) and its restricted ranges.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.sensitivity import calibratable, check_ranges, check_size, outcomes_per_run, whole
from sim.errors import UserError
from sim.model.model import CrisisModel
from sim.results.files import atomic_folder, write_json
from sim.results.outcomes import OUTCOMES, classify
from sim.scenario.schema import Scenario

# --outcome name -> index in sim.results.outcomes.OUTCOMES
OUTCOME_CODES = {"resolved": 0, "tense": 1, "clash": 2}
MIN_SAMPLES = 50  # PRIM peels 5% of the points at a time down to 5%: fewer leave boxes of a point or two
ALPHA = 0.05  # the quasi-p value above which a restriction is dropped
Evaluate = Callable[[list[str], np.ndarray], np.ndarray]  # (names, points (N, D)) -> outcome shares (N,)


@dataclass
class Discovery:
    """The sample, the outcome's share at each point, and the boxes PRIM found."""

    scenario: str
    outcome: str
    parameters: dict[str, tuple[float, float]]
    points: pd.DataFrame  # one row per point: the parameters and `share`
    boxes: pd.DataFrame  # one row per box and restricted parameter (see BOX_COLUMNS)
    runs: int
    min_coverage: float
    note: str = ""  # why there is no box, when there is none
    seed: int = 0

    @property
    def base_rate(self) -> float:
        return float(self.points["share"].mean())

    def summary(self) -> pd.DataFrame:
        """One row per box: coverage, density, mass, points and the number of restrictions."""
        cols = ["box", "coverage", "density", "mass", "points", "base_rate"]
        if self.boxes.empty:
            return pd.DataFrame(columns=[*cols, "restrictions"])
        table = self.boxes.groupby("box", as_index=False).agg(
            **{c: (c, "first") for c in cols[1:]}, restrictions=("parameter", "size")
        )
        return table.astype({"box": int, "points": int})

    def lines(self) -> list[str]:
        label = OUTCOMES[OUTCOME_CODES[self.outcome]]
        out = [
            f"{self.scenario}: '{label}' in {self.base_rate:.1%} of the runs over {len(self.points)} "
            f"points x {self.runs} runs ({len(self.parameters)} parameters, Latin hypercube)"
        ]
        if self.boxes.empty:
            return [*out, f"no box: {self.note}"]
        for box in self.summary().to_dict("records"):
            out.append(
                f"box {box['box']}: coverage {box['coverage']:.0%}, density {box['density']:.0%} "
                f"(base rate {box['base_rate']:.0%}), mass {box['mass']:.0%} ({box['points']} points)"
            )
            rows = self.boxes[self.boxes["box"] == box["box"]]
            width = max(len(p) for p in rows["parameter"])
            for r in rows.to_dict("records"):
                qp = " and ".join(
                    f"{side} {r[f'qp_{side}']:.2g}"
                    for side in ("low", "high")
                    if not np.isnan(r[f"qp_{side}"])
                )
                out.append(
                    f"  {r['parameter']:<{width}}  {r['low']:.4g} to {r['high']:.4g}   "
                    f"(of {r['range_low']:.4g} to {r['range_high']:.4g}; quasi-p {qp})"
                )
        return out

    def save(self, out: str | Path) -> Path:
        """discovery.csv (the boxes), points.csv (the sample and its shares) and manifest.json."""
        out = Path(out)
        with atomic_folder(out) as tmp:
            self.boxes.to_csv(tmp / "discovery.csv", index=False, float_format="%.6g")
            self.points.to_csv(tmp / "points.csv", index=False, float_format="%.6g")
            manifest = {
                "scenario": self.scenario,
                "outcome": self.outcome,
                "points": len(self.points),
                "runs_per_point": self.runs,
                "seed": self.seed,
                "min_coverage": self.min_coverage,
                "alpha": ALPHA,
                "base_rate": self.base_rate,
                "parameters": {k: list(v) for k, v in self.parameters.items()},
                "boxes": int(self.boxes["box"].nunique()) if len(self.boxes) else 0,
                "note": self.note,
            }
            write_json(tmp / "manifest.json", manifest)
        return out


BOX_COLUMNS = [
    *("box", "coverage", "density", "mass", "points", "base_rate"),
    *("parameter", "low", "high", "range_low", "range_high", "qp_low", "qp_high"),
]


def check_outcome(outcome: str) -> str:
    if outcome not in OUTCOME_CODES:
        raise UserError(f"expected one of {', '.join(OUTCOME_CODES)}, found {outcome!r}", field="--outcome")
    return outcome


def check_design(
    scenario: Scenario,
    *,
    outcome: str,
    samples: int,
    runs: int,
    parameters: dict[str, tuple[float, float]] | None = None,
    min_coverage: float = 0.5,
    max_boxes: int = 3,
    days: int | None = None,
    workers: int = 1,
) -> dict[str, tuple[float, float]]:
    """Check a design before any work: outcome, sizes, ranges, and that it fits in memory."""
    check_outcome(outcome)
    samples = whole(samples, "--samples")
    if samples < MIN_SAMPLES:
        raise UserError(
            f"expected at least {MIN_SAMPLES} samples (PRIM peels 5% of the points at a time), "
            f"found {samples}",
            field="--samples",
        )
    whole(runs, "--runs")
    whole(max_boxes, "--boxes")
    if isinstance(min_coverage, bool) or not 0 < min_coverage <= 1:  # NaN too
        raise UserError(
            f"expected a share above 0 and at most 1, found {min_coverage!r}", field="--min-coverage"
        )
    parameters = check_ranges(scenario, parameters or calibratable(scenario))
    check_size(
        samples,
        runs,
        scenario.days if days is None else whole(days, "--days"),
        len(parameters),
        workers=whole(workers, "--workers"),
        field="--samples",
        hint="use fewer --samples or --runs",
    )
    return parameters


def latin_hypercube(parameters: dict[str, tuple[float, float]], samples: int, seed: int) -> pd.DataFrame:
    """`samples` points spread over the parameters' ranges, one stratum of each range per point."""
    from scipy.stats import qmc

    rng = np.random.default_rng(seed % (2**32))
    try:
        sampler = qmc.LatinHypercube(len(parameters), rng=rng)
    except TypeError:  # scipy before 1.15 calls it `seed`
        sampler = qmc.LatinHypercube(len(parameters), seed=rng)
    lows, highs = (np.array([b[k] for b in parameters.values()]) for k in (0, 1))
    return pd.DataFrame(qmc.scale(sampler.random(samples), lows, highs), columns=list(parameters))


def _outcome_block(
    scenario: Scenario, names: list[str], block: np.ndarray, runs: int, days: int
) -> np.ndarray:
    """One batch of points: each run's outcome index in OUTCOMES, (points, runs, 1)."""
    replicates = np.tile(np.arange(runs), len(block))  # the same replicates at every point
    batch = {name: np.repeat(block[:, d], runs) for d, name in enumerate(names)}
    model = CrisisModel(
        scenario, replicates=replicates, days=days, batch=batch, keep_events=np.zeros(len(replicates), bool)
    )
    model.run()
    rec = model.recorder
    o = classify(
        rec.tension, rec.settled, model.state.clashed, int(scenario.mechanisms.outcome.resolution_window)
    )
    model.recorder = model.state = None
    return o["outcome"].astype(float).reshape(len(block), runs, 1)


def model_shares(
    scenario: Scenario,
    outcome: str,
    *,
    runs: int,
    days: int | None = None,
    workers: int = 1,
    client=None,
) -> Evaluate:
    """The model as an Evaluate: each point's share of `runs` runs that end in `outcome`."""
    code = OUTCOME_CODES[check_outcome(outcome)]

    def evaluate(names: list[str], points: np.ndarray) -> np.ndarray:
        per_run = outcomes_per_run(
            scenario,
            names,
            points,
            runs=runs,
            days=days,
            workers=workers,
            client=client,
            block=_outcome_block,
        )
        return (per_run[:, :, 0] == code).mean(axis=1)

    return evaluate


def find_boxes(
    x: pd.DataFrame,
    y: np.ndarray,
    ranges: dict[str, tuple[float, float]],
    runs: int,
    *,
    min_coverage: float = 0.5,
    max_boxes: int = 3,
    alpha: float = ALPHA,
) -> tuple[pd.DataFrame, str]:
    """PRIM's boxes for outcome shares `y` (0 to 1, each of `runs` runs) at points `x`; a note if none."""
    y = np.asarray(y, dtype=float)
    counts = np.rint(y * runs)
    total = float(y.sum())
    if total == 0:
        return pd.DataFrame(columns=BOX_COLUMNS), "no run ended in this outcome at any point"
    if (y == 1).all():
        return pd.DataFrame(columns=BOX_COLUMNS), "every run ended in this outcome at every point"
    from scipy.stats import binomtest

    with warnings.catch_warnings():  # the workbench warns at import about optional extras it lacks
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim
    logging.getLogger("EMA").setLevel(logging.WARNING)
    x = x.reset_index(drop=True).astype(float)
    with warnings.catch_warnings():  # pandas' deprecation notes on the workbench's own code
        warnings.simplefilter("ignore")
        finder = prim.Prim(x, y.copy(), peel_alpha=0.05, paste_alpha=0.05, mass_min=0.05)
    base = float(y.mean())
    rows: list[dict] = []
    note = ""
    for number in range(1, max_boxes + 1):
        finder._update_yi_remaining(finder)  # the points no earlier box holds
        remaining = finder.yi_remaining
        left = float(y[remaining].sum())
        if len(remaining) == 0 or left == 0:
            note = "no case of the outcome is left outside the boxes"
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            box = finder.find_box()
        if box is None:
            break
        trajectory = box.peeling_trajectory
        share_left = trajectory["k"].to_numpy(float) / left
        eligible = np.flatnonzero(share_left >= min_coverage)
        best = (
            int(eligible[np.argmax(trajectory["density"].to_numpy(float)[eligible])]) if len(eligible) else 0
        )
        box.select(best)
        qp = _significant(box, counts, runs, alpha)
        inside = np.asarray(box.yi)
        if not qp:
            note = f"box {number} kept no restriction with a quasi-p value of at most {alpha:g}"
            break
        density = float(y[inside].mean())
        above = binomtest(int(counts[inside].sum()), runs * len(inside), base, alternative="greater")
        if above.pvalue > alpha:
            note = (
                f"box {number} (density {density:.1%}) was not denser than the base rate "
                f"{base:.1%} at the {alpha:g} level"
            )
            break
        lims = box.box_lim
        for name, (qp_low, qp_high) in qp.items():
            rows.append(
                {
                    "box": number,
                    "coverage": float(y[inside].sum()) / total,
                    "density": density,
                    "mass": len(inside) / len(y),
                    "points": len(inside),
                    "base_rate": base,
                    "parameter": name,
                    "low": ranges[name][0] if np.isnan(qp_low) else float(lims.loc[0, name]),
                    "high": ranges[name][1] if np.isnan(qp_high) else float(lims.loc[1, name]),
                    "range_low": ranges[name][0],
                    "range_high": ranges[name][1],
                    "qp_low": qp_low,
                    "qp_high": qp_high,
                }
            )
    if not rows and not note:
        note = "PRIM found no box"
    return pd.DataFrame(rows, columns=BOX_COLUMNS), note if not rows else ""


def _significant(box, counts: np.ndarray, runs: int, alpha: float) -> dict[str, tuple[float, float]]:
    """Open the selected box's restricting sides whose quasi-p value is above `alpha`, the least
    significant first; the restricted parameters left, with each side's quasi-p value (NaN: open).

    A side's quasi-p value (Bryant and Lempert 2010) is the one-sided binomial test of the box's
    runs against the outcome's rate in the box with that side opened. It counts runs, not points:
    the workbench's own counts points, which leaves shares of few runs without power. Given the
    points, a box's runs are independent, so the test is exact when the outcome does not depend
    on the parameters and conservative when it varies inside the box.
    """
    from scipy.stats import binomtest

    prim = box.prim
    remaining = prim.yi_remaining
    x = prim.x.loc[remaining]
    initial = prim.box_init

    def inside(lims: pd.DataFrame) -> np.ndarray:
        return remaining[((x >= lims.loc[0]) & (x <= lims.loc[1])).all(axis=1).to_numpy()]

    while True:
        lims = box.box_lim
        held = inside(lims)
        hits, trials = int(counts[held].sum()), runs * len(held)
        sides: dict[tuple[str, int], float] = {}
        opened: dict[tuple[str, int], pd.DataFrame] = {}
        for name in lims.columns:
            for k in (0, 1):
                if lims.loc[k, name] != initial.loc[k, name]:
                    wider = lims.copy()
                    wider.loc[k, name] = initial.loc[k, name]
                    around = inside(wider)
                    rate = counts[around].sum() / (runs * len(around))
                    sides[name, k] = float(binomtest(hits, trials, rate, alternative="greater").pvalue)
                    opened[name, k] = wider
        if not sides:
            return {}
        worst = max(sides, key=sides.get)
        if sides[worst] <= alpha:
            names = dict.fromkeys(name for name, _ in sides)
            return {n: (sides.get((n, 0), np.nan), sides.get((n, 1), np.nan)) for n in names}
        box.update(opened[worst], inside(opened[worst]))


def discover(
    scenario: Scenario,
    *,
    outcome: str = "clash",
    samples: int = 200,
    runs: int = 20,
    parameters: dict[str, tuple[float, float]] | None = None,
    min_coverage: float = 0.5,
    max_boxes: int = 3,
    days: int | None = None,
    seed: int | None = None,
    workers: int = 1,
    client=None,
    evaluate: Evaluate | None = None,
) -> Discovery:
    """Sample the parameters, run each point `runs` times, and find the boxes where `outcome` is likely.

    `evaluate` replaces the model (names and an (N, D) array of points in, N shares
    out): a known function checks that PRIM finds what it should.
    """
    parameters = check_design(
        scenario,
        outcome=outcome,
        samples=samples,
        runs=runs,
        parameters=parameters,
        min_coverage=min_coverage,
        max_boxes=max_boxes,
        days=days,
        workers=workers,
    )
    seed = scenario.seed if seed is None else seed
    x = latin_hypercube(parameters, samples, seed)
    if evaluate is None:
        evaluate = model_shares(scenario, outcome, runs=runs, days=days, workers=workers, client=client)
    y = np.asarray(evaluate(list(parameters), x.to_numpy()), dtype=float)
    if y.shape != (len(x),) or not np.all((y >= 0) & (y <= 1)):
        raise ValueError(f"expected {len(x)} shares from 0 to 1, found shape {y.shape}")
    boxes, note = find_boxes(x, y, parameters, runs, min_coverage=min_coverage, max_boxes=max_boxes)
    return Discovery(
        scenario.name, outcome, parameters, x.assign(share=y), boxes, runs, min_coverage, note, seed
    )
