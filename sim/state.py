"""The model state, with a leading replicate axis, and how events change it.

R = 1 is the ordinary single run; R = 10,000 runs in lockstep through the
same code. Formulas and sources: docs/model.md, section "Submodels".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.arrays import total
from sim.spec import Spec


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


def _param(array: np.ndarray, rows: np.ndarray, *index) -> np.ndarray:
    """Per-event values of a (B, ...) parameter, whether B is 1 or R."""
    return array[(rows if array.shape[0] > 1 else 0, *index)]


def decay(state: State, spec: Spec) -> None:
    """Stocks fade each day (Richardson fatigue, forgetting, dissipating pressure)."""
    memory = 1.0 - spec.mech["reciprocity.memory"]
    state.tension *= (1.0 - spec.mech["tension.decay"])[:, None, None]
    state.grievance *= memory[:, None, None]
    state.hostility *= memory[:, None]
    state.commitment *= (1.0 - spec.mech["audience_costs.decay"])[:, None]
    state.backing *= (1.0 - spec.mech["alliance.memory"])[:, None, None]
    state.mediation *= (1.0 - spec.mech["mediation.decay"])[:, None]
    state.costs *= (1.0 - spec.mech["ripeness.recovery"])[:, None]


def _aggrieve(
    state: State, spec: Spec, rows: np.ndarray, src: np.ndarray, tgt: np.ndarray, amount: np.ndarray
) -> None:
    """The target's grievance against the source grows by `amount`, and so, in
    proportion to their affinity, does that of the target's allies (kin solidarity)."""
    np.add.at(state.grievance, (rows, tgt, src), amount)
    allies = np.maximum(_param(spec.affinity, rows, slice(None), tgt), 0.0)  # (E, N)
    np.add.at(state.grievance, (rows, slice(None), src), allies * amount[:, None])


def apply_events(
    state: State, spec: Spec, rows: np.ndarray, src: np.ndarray, tgt: np.ndarray, move: np.ndarray
) -> None:
    """Apply a day's events (replicate, actor, target, move) to the state, all at once."""
    mv = spec.moves
    g = mv.goldstein[move]
    scale = _param(spec.mech["tension.event_scale"], rows)
    np.add.at(state.tension, (rows, src, tgt), -g * scale)
    np.add.at(state.tension, (rows, tgt, src), -g * scale)
    _aggrieve(state, spec, rows, src, tgt, -g / 10.0)
    np.add.at(state.hostility, (rows, src), mv.hostility[move])
    np.add.at(state.commitment, (rows, src), mv.hostility[move] * mv.commitment[move])
    np.add.at(state.backing, (rows, src, tgt), mv.support[move])
    leverage = _param(spec.leverage, rows, src, tgt)
    affinity = _param(spec.affinity, rows, src, tgt)
    np.add.at(state.mediation, (rows, tgt), mv.mediation[move] * leverage * (1.0 + affinity) / 2.0)
    sets, clears = mv.sets[move], mv.clears[move]
    s = sets >= 0
    state.held[rows[s], src[s], sets[s]] = True
    state.target[rows[s], src[s], sets[s]] = tgt[s]
    state.age[rows[s], src[s], sets[s]] = 0
    c = clears >= 0
    state.held[rows[c], src[c], clears[c]] = False
    state.clashed[rows[mv.clash[move] > 0]] = True


def standing_postures(state: State, spec: Spec) -> None:
    """Postures keep pressing on their dyad and keep costing their owner, then age and lapse."""
    ps = spec.postures
    rows, owner, k = np.nonzero(state.held)
    target = state.target[rows, owner, k]
    pressure = ps.pressure[k]
    scale = _param(spec.mech["tension.posture_scale"], rows)
    np.add.at(state.tension, (rows, owner, target), pressure * scale)
    np.add.at(state.tension, (rows, target, owner), pressure * scale)
    _aggrieve(state, spec, rows, owner, target, pressure / 10.0)
    np.add.at(state.hostility, (rows, owner), np.maximum(pressure, 0.0) / 10.0)
    np.add.at(state.costs, (rows, owner), ps.cost[k])
    adversary = spec.affinity < 0
    state.costs += (state.tension * adversary).max(axis=-1) / 100.0
    np.clip(state.tension, 0.0, 100.0, out=state.tension)
    state.age += state.held
    lapse = state.held & (ps.max_days > 0) & (state.age >= ps.max_days)
    state.held &= ~lapse


def global_tension(state: State, spec: Spec) -> np.ndarray:
    """The 0-100 index: salience-weighted mean of dyadic tension (adversarial dyads weigh most)."""
    iu = np.triu_indices(spec.n, 1)
    weights = spec.salience[:, iu[0], iu[1]]
    if not np.any(weights):
        weights = np.ones_like(weights)
    values = state.tension[:, iu[0], iu[1]]
    return total(values * weights, 1) / total(weights, 1)


def posture_level(state: State, spec: Spec) -> np.ndarray:
    """Each actor's escalation posture: daily pressure of its standing postures (Goldstein units)."""
    return total(state.held * np.maximum(spec.postures.pressure, 0.0), -1)


def settled(state: State, spec: Spec, level: np.ndarray) -> np.ndarray:
    """(R,) the crisis is calm: no posture that blocks resolution stands, tension is low."""
    blocking = (state.held & spec.postures.blocks).any(axis=(1, 2))
    return ~blocking & (level < spec.mech["outcome.resolution_threshold"])
