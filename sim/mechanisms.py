"""The decision rule: one named utility term per mechanism of the model brief.

Each term is a pure function of the day's `Situation` and a set of options
(actor, move, target), returning an (R, options) array. The agents sum them
and draw by a logit rule; `sim explain` (later) shows them one by one, and
they add up exactly to the utility used. Formulas and sources: docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.arrays import total
from sim.spec import CONTACT, Options, Spec
from sim.state import State

TERMS = (
    "disposition",
    "reciprocity",
    "deterrence",
    "audience_costs",
    "alliance",
    "mediation",
    "ripeness",
    "accidents",
)


@dataclass
class Situation:
    """What every actor sees on a day: the state plus quantities derived from it."""

    state: State
    adversary: np.ndarray  # (B, N, N) bool
    ally: np.ndarray  # (B, N, N) affinity clipped at 0
    contact: np.ndarray  # (R, N) holds a contact posture
    risk: np.ndarray  # (R, N, N) incident risk between forces in contact, 0-1
    exposure: np.ndarray  # (R, N) summed risk
    agreement: np.ndarray  # (R, N) bound by an agreement in force (own or an ally's), 0-1
    deterrent: np.ndarray  # (R, N) strength of the side that attacking j would face
    backing: np.ndarray  # (R, N) allied backing of i
    pull: np.ndarray  # (R, N, N) tension between i's allies and j
    crisis: np.ndarray  # (R, N) i's highest tension with an adversary, 0-1
    ripe: np.ndarray  # (R, N, N) Zartman ripeness of the (i, j) conflict, 0-1
    way_out: np.ndarray  # (R, N) mediation on offer, 0-1

    @classmethod
    def of(cls, state: State, spec: Spec) -> Situation:
        held = state.held
        ps = spec.postures
        adversary = spec.affinity < 0
        ally = np.maximum(spec.affinity, 0.0)
        contact = (held & ps.contact).any(-1)
        buffer = (held * ps.buffer).max(axis=(1, 2))
        level = (state.tension / 100.0) ** 2
        risk = contact[:, :, None] & contact[:, None, :] & adversary
        risk = risk * level * (1.0 - buffer)[:, None, None]
        pledge = (held & ps.pledge).any(-1)
        signed = (pledge[:, :, None] & pledge[:, None, :] & adversary).any(-1)
        # Allies follow their patron's deal (the Kosovo Serbs lifted the roadblocks under
        # Belgrade's agreement in 2021), in proportion to their affinity.
        agreement = np.maximum(signed, (ally * signed[:, None, :]).max(axis=-1))
        n = spec.n
        side = ally + np.eye(n)  # j counts itself on its own side
        strength = spec.capability * (1.0 + total(held * ps.deterrence, -1))  # (R, N)
        deterrent = total(side * strength[:, :, None], 1)
        backers = ally * (spec.capability * spec.resolve)[:, :, None]  # (B, k, i)
        backing = total(backers * (1.0 + state.backing), 1)
        pull = total(ally[:, :, :, None] * state.tension[:, None, :, :], 2) / 100.0
        crisis = (state.tension * adversary).max(axis=-1) / 100.0
        hurt = 1.0 - np.exp(-state.costs / spec.m("ripeness.hurt_scale"))
        mutual = np.minimum(hurt[:, :, None], hurt[:, None, :])
        width = spec.mech["ripeness.width"][:, None, None]
        threshold = spec.mech["ripeness.threshold"][:, None, None]
        ripe = 1.0 / (1.0 + np.exp(-(mutual - threshold) / width))
        return cls(
            state=state,
            adversary=adversary,
            ally=ally,
            contact=contact,
            risk=risk,
            exposure=total(risk, -1),
            agreement=agreement,
            deterrent=deterrent,
            backing=backing,
            pull=pull,
            crisis=crisis,
            ripe=ripe,
            way_out=np.minimum(1.0, state.mediation),
        )


def _b(array: np.ndarray, *index) -> np.ndarray:
    """Index a (B, ...) parameter array; B broadcasts against R."""
    return array[(slice(None), *index)]


def utility_terms(sit: Situation, spec: Spec, opt: Options) -> dict[str, np.ndarray]:
    """Each mechanism's contribution to the utility of each option, (R, O) arrays."""
    mv = spec.moves
    a, m, t = opt.actor, opt.move, opt.target
    s = sit.state
    e, c = mv.hostility[m], mv.cooperation[m]
    net = e - c
    w = spec.m
    risk_aversion = 1.0 - _b(spec.risk_tolerance, a)
    hostile_to_adversary = e * _b(sit.adversary, a, t)
    verbal = spec.m("deterrence.verbal_share")
    terms = {
        "disposition": w("disposition.hawkishness") * (2.0 * _b(spec.hawkishness, a) - 1.0) * net
        - mv.cost[m] * (1.0 - w("disposition.capability_discount") * _b(spec.capability, a) * mv.material[m]),
        "reciprocity": w("reciprocity.weight")
        * (
            (s.grievance[:, a, t] - w("reciprocity.fatigue") * s.hostility[:, a]) * net
            # forces mirror forces: keep them facing an opponent's, stand down when it has
            + w("reciprocity.mirror") * mv.contact_delta[m] * (2.0 * sit.contact[:, t] - 1.0)
        ),
        "deterrence": -w("deterrence.weight")
        * risk_aversion
        * sit.deterrent[:, t]
        * e**2
        * (mv.material[m] + verbal * (1.0 - mv.material[m])),
        "audience_costs": -w("audience_costs.weight")
        * s.commitment[:, a]
        * mv.concession[m]
        * (1.0 - sit.agreement[:, a]),
        "alliance": w("alliance.weight")
        * (
            (sit.backing[:, a] + sit.pull[:, a, t]) * hostile_to_adversary
            + mv.support[m] * _b(sit.ally, a, t) * _b(spec.resolve, a) * sit.crisis[:, t]
        ),
        "mediation": w("mediation.weight")
        * (
            (s.mediation[:, a] + w("mediation.implementation") * sit.agreement[:, a])
            * (c - e)
            * spec.party[a]
            + w("mediation.drive")
            * _b(spec.resolve, a)
            * _b(spec.leverage, a, t)
            * sit.crisis[:, t]
            * mv.mediation[m]
        ),
        "ripeness": w("ripeness.weight") * sit.ripe[:, a, t] * sit.way_out[:, a] * mv.settlement[m],
        "accidents": -w("accidents.weight") * risk_aversion * sit.exposure[:, a] * mv.contact_delta[m],
    }
    return terms


def _standing(sit: Situation, scope: int, posture: int, a: int, t: int) -> np.ndarray:
    """(R,) whether a 'scope:posture' condition holds for actor a and target t."""
    held = sit.state.held
    if posture == CONTACT:
        return sit.contact.any(-1) if scope == 2 else sit.contact[:, a if scope == 0 else t]
    if scope == 2:
        return held[:, :, posture].any(-1)
    return held[:, a if scope == 0 else t, posture]


def available(sit: Situation, spec: Spec, opt: Options) -> np.ndarray:
    """(R, O) mask of allowed options.

    Required postures stand and forbidden ones do not; a posture is not set twice,
    and is cleared only towards the actor it faces.
    """
    held = sit.state.held
    mask = np.ones((held.shape[0], len(opt)), dtype=bool)
    for col, (a, m, t) in enumerate(zip(opt.actor, opt.move, opt.target, strict=True)):
        k = spec.moves.sets[m]
        if k >= 0:
            mask[:, col] &= ~held[:, a, k]
        k = spec.moves.clears[m]
        if k >= 0:  # a posture is stood down towards whom it faces
            mask[:, col] &= sit.state.target[:, a, k] == t
        for scope, posture in spec.moves.requires[m]:
            mask[:, col] &= _standing(sit, scope, posture, a, t)
        for scope, posture in spec.moves.forbids[m]:
            mask[:, col] &= ~_standing(sit, scope, posture, a, t)
    return mask


def probabilities(utility: np.ndarray, mask: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Choice probabilities of the logit (quantal-response) rule, (R, O)."""
    logits = np.where(mask, precision[:, None] * utility, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / total(p, 1)[:, None]


def choose(utility: np.ndarray, mask: np.ndarray, precision: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One logit draw per replicate: the option whose cumulative probability passes `u`."""
    cum = np.cumsum(probabilities(utility, mask, precision), axis=1)
    pick = (cum < u[:, None]).sum(axis=1)
    return np.minimum(pick, utility.shape[1] - 1)
