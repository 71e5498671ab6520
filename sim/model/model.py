"""The crisis model as a `mesa.Model`: the lockstep engine, with the scenario's actors as Mesa agents.

R replicates of a scenario stepped day by day in the compiled kernel
(`sim/model/lockstep.py` says how). This is the face a Mesa user, a notebook
and the dashboard see; an ensemble's blocks of runs use the engine alone,
which gives the same numbers without importing Mesa.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mesa
import numpy as np

from sim.model.agents import CrisisActor
from sim.model.lockstep import (  # noqa: F401 (the names this module has always offered)
    ACCIDENT,
    CHOSEN,
    EVENT_KINDS,
    IMPLEMENTED,
    PIECE_WORK,
    SCRIPTED,
    SETTLEMENT,
    Lockstep,
    Recorder,
)
from sim.scenario.schema import Scenario


class CrisisModel(Lockstep, mesa.Model):
    """R replicates of one scenario in lockstep (R = 1 is an ordinary single run), as a Mesa model.

    Args:
        scenario: a validated scenario.
        replicates: how many (0..R-1) or which replicate indices to run.
        days: number of days (default: the scenario's).
        seed: seed of the random streams (default: the scenario's).
        batch: per-replicate parameter values, dotted path -> array (R,).
        keep_events: which replicates keep their event log (default: all), bool (R,).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        replicates: int | Sequence[int] = 1,
        days: int | None = None,
        seed: int | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
        keep_events: np.ndarray | None = None,
    ):
        # Mesa's own generator, kept for Mesa idioms; the mechanisms draw from the
        # counter-based streams in sim.model.rng so that replicates are independent of batching.
        own_seed = scenario.seed if seed is None else int(seed)
        mesa.Model.__init__(self, rng=np.random.Generator(np.random.Philox(own_seed)))
        Lockstep.__init__(
            self, scenario, replicates=replicates, days=days, seed=seed, batch=batch, keep_events=keep_events
        )
        self.actors = [
            CrisisActor(self, i, actor_id, scenario.actors[actor_id])
            for i, actor_id in enumerate(self.spec.actor_ids)
        ]
