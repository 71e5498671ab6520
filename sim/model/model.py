"""The crisis model as a `mesa.Model`: the lockstep engine, with the scenario's actors as Mesa agents.

R replicates of a scenario stepped day by day in the compiled kernel
(`sim/model/lockstep.py` says how). This is the face a Mesa user, a notebook
and the dashboard see; an ensemble's blocks of runs use the engine alone,
which gives the same numbers without importing Mesa.
"""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np

from sim.model.agents import CrisisActor
from sim.model.lockstep import PIECE_WORK, Lockstep, Recorder  # noqa: F401 (names it has always offered)
from sim.model.spec import (  # noqa: F401 (the names this module has always offered)
    ACCIDENT,
    CHOSEN,
    DEMAND_MET,
    EVENT_KINDS,
    IMPLEMENTED,
    SCRIPTED,
    SETTLEMENT,
)
from sim.scenario.schema import Scenario


class CrisisModel(Lockstep, mesa.Model):
    """R replicates of one scenario in lockstep (R = 1 is an ordinary single run), as a Mesa model.

    The arguments are Lockstep's: the scenario, then `replicates`, `days`, `seed`, `batch` and
    `keep_events` by name.
    """

    def __init__(self, scenario: Scenario, **options: Any):
        # Mesa's own generator, kept for Mesa idioms; the mechanisms draw from the
        # counter-based streams in sim.model.rng so that replicates are independent of batching.
        seed = options.get("seed")
        own_seed = scenario.seed if seed is None else int(seed)
        mesa.Model.__init__(self, rng=np.random.Generator(np.random.Philox(own_seed)))
        Lockstep.__init__(self, scenario, **options)
        self.actors = [
            CrisisActor(self, i, actor_id, scenario.actors[actor_id])
            for i, actor_id in enumerate(self.spec.actor_ids)
        ]
