"""The actors: one `mesa.Agent` per state, minority, mediator or patron of the crisis."""

from __future__ import annotations

import mesa
import numpy as np

from sim import mechanisms
from sim.scenario import Actor
from sim.spec import Options


class CrisisActor(mesa.Agent):
    """An actor choosing one move a day by a logit rule over its options' utilities.

    It holds its options (move, target) and, after `decide`, its choice for
    every replicate (an array of option indices of length R).
    """

    def __init__(self, model: mesa.Model, index: int, actor_id: str, actor: Actor):
        super().__init__(model)
        self.index = index
        self.actor_id = actor_id
        self.actor = actor
        self.choice = np.zeros(0, dtype=np.int64)

    @property
    def options(self) -> Options:
        return self.model.spec.options[self.index]

    def utility_terms(self) -> dict[str, np.ndarray]:
        """Each mechanism's term for each option on today's situation, (R, O)."""
        return mechanisms.utility_terms(self.model.situation, self.model.spec, self.options)

    def decide(self, u: np.ndarray) -> None:
        """Pick today's option in every replicate; `u` holds the day's (R, N) choice uniforms."""
        spec, sit = self.model.spec, self.model.situation
        utility = sum(self.utility_terms().values())
        mask = mechanisms.available(sit, spec, self.options)
        self.choice = mechanisms.choose(utility, mask, spec.mech["rationality"], u[:, self.index])
