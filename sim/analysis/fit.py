"""How an ensemble compares with its record: the same summaries from simulated runs and from the coded events.

The summaries are what the record supports (docs/model.md, section 8.1): the
dated timings (first moves named in the record, the deal, the end of the
standing postures), whether there was an armed clash, the mean daily Goldstein
sum of each phase, each actor's share of the events and the mix of CAMEO
roots. Calibration fits them; `benchmarks/validity.py` reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim.ensemble.posterior import scenario_draws
from sim.model.model import CrisisModel
from sim.results.outcomes import classify
from sim.scenario import cameo
from sim.scenario.record import ROOTS, Targets, last_third
from sim.scenario.schema import Scenario

RUNGS_OF_ROOT = np.array(cameo.RUNG_OF_ROOT)  # the ladder's rung of each CAMEO root, for array lookups


@dataclass
class Simulated:
    """What a batch of runs did, in arrays: the event table and the daily trajectories."""

    scenario: Scenario
    events: np.ndarray  # (E, 6): run row, day, actor, target, move, kind
    tension: np.ndarray  # (R, days)
    settled: np.ndarray
    clashed: np.ndarray
    goldstein: np.ndarray  # (M,) per move
    cameo: list[str | None]
    settle_move: int
    principals: np.ndarray
    actor_ids: list[str]
    moves: list[str]

    @property
    def runs(self) -> int:
        return self.tension.shape[0]

    @property
    def roots(self) -> np.ndarray:
        """The CAMEO root (1-20) of each move, 0 for a move without a code."""
        return np.array([int(c[:2]) if c else 0 for c in self.cameo])

    @property
    def days(self) -> int:
        return self.tension.shape[1]


def simulate(
    scenario: Scenario,
    runs: int,
    *,
    days: int | None = None,
    seed: int | None = None,
    batch: Mapping[str, np.ndarray] | None = None,
    first: int = 0,
    posterior: bool = True,
) -> Simulated:
    """Run `runs` replicates (first, first + 1, ...) in this process and keep what the summaries need.

    Like `sim.run`, each replicate draws its parameters from the scenario's posterior unless
    `posterior=False` (point values); values in `batch` win over the draws.
    """
    replicates = np.arange(first, first + runs)
    drawn = scenario_draws(scenario, replicates) if posterior else {}
    model = CrisisModel(
        scenario, replicates=replicates, days=days, seed=seed, batch={**drawn, **(batch or {})}
    )
    model.run()
    rec, spec = model.recorder, model.spec
    return Simulated(
        scenario=scenario,
        events=rec.event_table(),
        tension=rec.tension,
        settled=rec.settled,
        clashed=model.state.clashed.copy(),
        goldstein=spec.moves.goldstein,
        cameo=list(spec.moves.cameo),
        settle_move=spec.settle_move,
        principals=spec.principals,
        actor_ids=list(spec.actor_ids),
        moves=list(spec.moves.ids),
    )


def per_run(sim: Simulated, targets: Targets) -> dict[str, np.ndarray]:
    """Each run's timings, outcome and daily Goldstein sums (the pieces the summaries are made of)."""
    runs, days = sim.runs, sim.days
    ev = sim.events
    out: dict[str, np.ndarray] = {}
    record = sim.scenario.record
    for name, spec in record.first_moves.items() if record else ():
        actor = sim.actor_ids.index(spec.actor)
        moves = [sim.moves.index(m) for m in spec.moves]
        hit = ev[(ev[:, 2] == actor) & np.isin(ev[:, 4], moves)]
        day = np.full(runs, float(days))
        np.minimum.at(day, hit[:, 0], hit[:, 1].astype(float))
        out[f"first_move.{name}"] = day
    agreement = np.full(runs, float(days))
    if sim.settle_move >= 0 and sim.principals[0] >= 0:
        signed = np.full((runs, 2), np.inf)
        for q in range(2):
            hit = ev[(ev[:, 4] == sim.settle_move) & (ev[:, 2] == sim.principals[q])]
            np.minimum.at(signed[:, q], hit[:, 0], hit[:, 1].astype(float))
        both = signed.max(axis=1)
        agreement = np.where(np.isfinite(both), both, float(days))
    out["agreement_day"] = agreement
    window = int(sim.scenario.mechanisms.outcome.resolution_window)
    o = classify(sim.tension, sim.settled, sim.clashed, window)
    out["resolution_day"] = np.where(o["outcome"] == 0, o["resolution_day"], days).astype(float)
    out["peak_day"] = o["peak_day"].astype(float)
    out["clash"] = (o["outcome"] == 2).astype(float)
    daily = np.zeros((runs, days))
    np.add.at(daily, (ev[:, 0], ev[:, 1]), sim.goldstein[ev[:, 4]])
    out["daily"] = daily
    return out


def summary(sim: Simulated, targets: Targets) -> dict[str, float]:
    """The ensemble's summary in the record's terms (medians of timings, means and pooled shares)."""
    parts = per_run(sim, targets)
    days = sim.days
    out: dict[str, float] = {}
    for name in targets.first_moves:
        out[f"first_move.{name}"] = float(np.median(parts[f"first_move.{name}"]))
    if targets.agreement_day is not None:
        out["agreement_day"] = float(np.median(parts["agreement_day"]))
    if targets.resolution_day is not None:
        out["resolution_day"] = float(np.median(parts["resolution_day"]))
    out["p_clash"] = float(parts["clash"].mean())
    start, end = last_third(targets.window)
    ev = sim.events
    violent = RUNGS_OF_ROOT[sim.roots[ev[:, 4]]] == cameo.VIOLENCE
    late = ev[(ev[:, 1] >= start) & (ev[:, 1] <= end) & violent]
    out["late_violence"] = np.unique(late[:, 0]).size / sim.runs
    for name, (a, b) in targets.phases.items():
        out[f"goldstein.{name}"] = (
            float(parts["daily"][:, a : min(b, days - 1) + 1].mean()) if a < days else 0.0
        )
    first, last = targets.window
    ev = sim.events
    ev = ev[(ev[:, 1] >= first) & (ev[:, 1] <= last)]
    counts = np.bincount(ev[:, 2], minlength=len(sim.actor_ids)).astype(float)
    total = max(counts.sum(), 1.0)
    for k, actor in enumerate(sim.actor_ids):
        out[f"share.{actor}"] = counts[k] / total
    out["events_per_day"] = len(ev) / sim.runs / (last - first + 1)
    roots = sim.roots[ev[:, 4]] if len(ev) else np.zeros(0, int)
    root_counts = np.bincount(roots, minlength=21)
    for r in ROOTS:
        out[f"root.{r}"] = root_counts[int(r)] / max(len(ev), 1)
    return out


def observed(targets: Targets, days: int) -> dict[str, float]:
    """The record's values under the same names (a timing that never happened counts as the horizon)."""
    out: dict[str, float] = {f"first_move.{k}": v for k, v in targets.first_moves.items()}
    if targets.agreement_day is not None:
        out["agreement_day"] = targets.agreement_day
    if targets.resolution_day is not None:
        out["resolution_day"] = targets.resolution_day
    out["p_clash"] = 1.0 if targets.clash else 0.0
    out["late_violence"] = 1.0 if targets.late_violence else 0.0
    out.update({f"goldstein.{k}": v for k, v in targets.goldstein.items()})
    out.update({f"share.{k}": v for k, v in targets.actor_share.items()})
    out["events_per_day"] = targets.events_per_day
    out.update({f"root.{k}": v for k, v in targets.root_share.items()})
    return out
