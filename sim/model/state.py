"""The model state, with a leading replicate axis.

R = 1 is the ordinary single run; R = 10,000 runs in lockstep through the
same code (`sim/kernel.py`). Formulas and sources: docs/model.md, "Submodels".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.spec import Spec


@dataclass
class State:
    """Per-replicate state arrays (R = replicates, N = actors, K = postures)."""

    tension: np.ndarray  # (R, N, N) symmetric dyadic tension, 0-100
    grievance: np.ndarray  # (R, N, N) [i, j]: net hostility i has received from j
    hostility: np.ndarray  # (R, N) i's own recent hostility (Richardson fatigue)
    commitment: np.ndarray  # (R, N) public threats and demands made (audience costs)
    backing: np.ndarray  # (R, N, N) [k, i]: recent public support of k for i
    mediation: np.ndarray  # (R, N) mediation pressure on i
    costs: np.ndarray  # (R, N) accumulated costs of the crisis (ripeness)
    held: np.ndarray  # (R, N, K) bool: standing postures
    target: np.ndarray  # (R, N, K) int: whom each posture is directed at
    age: np.ndarray  # (R, N, K) int: days each posture has stood
    clashed: np.ndarray  # (R,) bool: an armed clash has happened

    @classmethod
    def initial(cls, spec: Spec, replicates: int) -> State:
        r, n, k = replicates, spec.n, len(spec.postures.ids)
        state = cls(
            tension=np.zeros((r, n, n)),
            grievance=np.zeros((r, n, n)),
            hostility=np.zeros((r, n)),
            commitment=np.zeros((r, n)),
            backing=np.zeros((r, n, n)),
            mediation=np.zeros((r, n)),
            costs=np.zeros((r, n)),
            held=np.zeros((r, n, k), dtype=bool),
            target=np.zeros((r, n, k), dtype=np.int64),
            age=np.zeros((r, n, k), dtype=np.int64),
            clashed=np.zeros(r, dtype=bool),
        )
        for actor, posture, target in spec.start_postures:
            state.held[:, actor, posture] = True
            state.target[:, actor, posture] = target
        return state

    @property
    def replicates(self) -> int:
        return self.tension.shape[0]
