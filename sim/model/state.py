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
    costs: np.ndarray  # (R, N) accumulated costs of the crisis (hurt, ripeness)
    belief: np.ndarray  # (R, N, N) [i, j]: i's belief in j's resolve, 0-1 (own resolve on the diagonal)
    ladder: np.ndarray  # (R, N, N) symmetric: the highest rung a pair has used lately (decaying)
    status_quo: np.ndarray  # (R, issues) where each issue stands
    reference: np.ndarray  # (R, N, issues) each actor's reference point (habituation to the status quo)
    held: np.ndarray  # (R, N, K) bool: standing postures
    target: np.ndarray  # (R, N, K) int: whom each posture is directed at
    age: np.ndarray  # (R, N, K) int: days each posture has stood
    clashed: np.ndarray  # (R,) bool: an armed clash has happened
    attention: np.ndarray  # (R, N) moves lately directed at i, by weight: what it answers
    demand: np.ndarray  # (R, N, K) the holder's gap (0-1) when it took up each posture: what it pressed for
    unanswered: np.ndarray  # (R, N, N) [i, j]: the blows i has taken from j and not yet answered

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
            belief=np.zeros((r, n, n)),
            ladder=np.zeros((r, n, n)),
            status_quo=np.zeros((r, len(spec.issue_ids))),
            reference=np.zeros((r, n, len(spec.issue_ids))),
            held=np.zeros((r, n, k), dtype=bool),
            target=np.zeros((r, n, k), dtype=np.int64),
            age=np.zeros((r, n, k), dtype=np.int64),
            clashed=np.zeros(r, dtype=bool),
            attention=np.zeros((r, n)),
            demand=np.zeros((r, n, k)),
            unanswered=np.zeros((r, n, n)),
        )
        state.belief[:] = 0.5  # no one has signalled yet: an uninformed belief
        resolve = np.broadcast_to(spec.resolve, (r, n))
        state.belief[:, np.arange(n), np.arange(n)] = resolve  # one knows one's own resolve
        state.status_quo[:] = spec.status_quo
        state.reference[:] = spec.status_quo  # before the crisis, everyone is used to the status quo
        for actor, posture, target in spec.start_postures:
            state.held[:, actor, posture] = True
            state.target[:, actor, posture] = target
        return state

    @property
    def replicates(self) -> int:
        return self.tension.shape[0]
