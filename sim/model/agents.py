"""The actors: one `mesa.Agent` per state, minority, mediator or patron of the crisis.

An actor holds its stances and views of its own rows of the model's state
arrays, one entry per replicate. Its daily choice is made in the compiled
kernel, for all replicates at once, by the logit rule of docs/model.md; the
reference implementation (`sim/reference.py`) spells the same choice out in
plain Python.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model.spec import Options
from sim.scenario.schema import Actor


class CrisisActor(mesa.Agent):
    """An actor of the crisis: its options and its slices of the state."""

    def __init__(self, model: mesa.Model, index: int, actor_id: str, actor: Actor):
        super().__init__(model)
        self.index = index
        self.actor_id = actor_id
        self.actor = actor

    @property
    def options(self) -> Options:
        """The (move, target) options its role and the scenario allow."""
        return self.model.spec.options[self.index]

    @property
    def postures(self) -> np.ndarray:
        """(R, K) bool: its standing postures in every replicate."""
        return self.model.state.held[:, self.index]

    @property
    def tension(self) -> np.ndarray:
        """(R, N): its dyadic tension with every actor in every replicate."""
        return self.model.state.tension[:, self.index]

    @property
    def grievance(self) -> np.ndarray:
        """(R, N): its grievance against every actor."""
        return self.model.state.grievance[:, self.index]
