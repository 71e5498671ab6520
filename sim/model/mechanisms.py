"""The decision rule's formulas: one named utility term per mechanism of the model brief.

Each term is a small scalar function of what an actor sees about one option
(its move towards one target). The compiled engine (`sim/kernel.py`) and the
plain reference implementation (`sim/reference.py`) both call these same
functions, so every formula lives in exactly one place; docs/model.md gives
each with its source. The terms add up to the utility the logit rule uses.
"""

from __future__ import annotations

import math

from numba import njit

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

# Columns of the mechanism-parameter table (spec.params), in this order.
PARAMS = (
    "rationality",
    "disposition.hawkishness",
    "disposition.verbal_cost",
    "disposition.material_cost",
    "disposition.capability_discount",
    "reciprocity.weight",
    "reciprocity.memory",
    "reciprocity.fatigue",
    "reciprocity.mirror",
    "deterrence.weight",
    "deterrence.verbal_share",
    "audience_costs.weight",
    "audience_costs.decay",
    "alliance.weight",
    "alliance.memory",
    "mediation.weight",
    "mediation.decay",
    "mediation.implementation",
    "mediation.drive",
    "ripeness.weight",
    "ripeness.threshold",
    "ripeness.width",
    "ripeness.hurt_scale",
    "ripeness.recovery",
    "accidents.weight",
    "accidents.hazard",
    "accidents.escalation",
    "tension.decay",
    "tension.event_scale",
    "tension.posture_scale",
    "outcome.resolution_threshold",
    "outcome.resolution_window",
)
(
    RATIONALITY, HAWK_W, VERBAL_COST, MATERIAL_COST, CAP_DISCOUNT,
    RECIP_W, RECIP_MEMORY, FATIGUE, MIRROR,
    DETER_W, VERBAL_SHARE,
    AUDIENCE_W, AUDIENCE_DECAY,
    ALLIANCE_W, ALLIANCE_MEMORY,
    MEDIATION_W, MEDIATION_DECAY, IMPLEMENTATION, DRIVE,
    RIPE_W, RIPE_THRESHOLD, RIPE_WIDTH, HURT_SCALE, RECOVERY,
    ACCIDENT_W, HAZARD, ESCALATION,
    TENSION_DECAY, EVENT_SCALE, POSTURE_SCALE,
    RESOLUTION_THRESHOLD, RESOLUTION_WINDOW,
) = range(len(PARAMS))  # fmt: skip


@njit(cache=True, inline="always")
def disposition(
    w_hawk: float,
    hawkishness: float,
    net: float,
    cost: float,
    discount: float,
    capability: float,
    material: float,
) -> float:
    """Baseline propensity: hawks prefer hostility; acting costs, force less so for the capable."""
    return w_hawk * (2.0 * hawkishness - 1.0) * net - cost * (1.0 - discount * capability * material)


@njit(cache=True, inline="always")
def reciprocity(
    w: float,
    grievance: float,
    fatigue: float,
    own_hostility: float,
    net: float,
    mirror: float,
    contact_delta: float,
    target_in_contact: float,
) -> float:
    """Richardson: hostility received invites hostility, one's own drains it; forces mirror forces."""
    return w * (
        (grievance - fatigue * own_hostility) * net + mirror * contact_delta * (2.0 * target_in_contact - 1.0)
    )


@njit(cache=True, inline="always")
def deterrence(
    w: float, risk_tolerance: float, deterrent: float, hostility: float, material: float, verbal_share: float
) -> float:
    """The target side's capability and commitment make escalation costly, steeply so for force."""
    return (
        -w
        * (1.0 - risk_tolerance)
        * deterrent
        * hostility
        * hostility
        * (material + verbal_share * (1.0 - material))
    )


@njit(cache=True, inline="always")
def audience_costs(w: float, commitment: float, concession: float, agreement: float) -> float:
    """Fearon: backing down after public commitments hurts at home, unless a deal gives cover."""
    return -w * commitment * concession * (1.0 - agreement)


@njit(cache=True, inline="always")
def alliance(
    w: float,
    backing: float,
    pull: float,
    hostility: float,
    adversary: float,
    support: float,
    ally: float,
    resolve: float,
    target_crisis: float,
) -> float:
    """Allies back their side: backing and allies' enemies embolden; allies in trouble get support."""
    return w * ((backing + pull) * hostility * adversary + support * ally * resolve * target_crisis)


@njit(cache=True, inline="always")
def mediation(
    w: float,
    pressure: float,
    implementation: float,
    agreement: float,
    cooperation: float,
    hostility: float,
    party: float,
    drive: float,
    resolve: float,
    leverage: float,
    target_crisis: float,
    intensity: float,
) -> float:
    """Third parties' pressure pulls parties towards de-escalation; mediators act where they have leverage."""
    return w * (
        (pressure + implementation * agreement) * (cooperation - hostility) * party
        + drive * resolve * leverage * target_crisis * intensity
    )


@njit(cache=True, inline="always")
def ripeness(w: float, ripe: float, way_out: float, settlement: float) -> float:
    """Zartman: settle when both sides hurt and a way out is offered."""
    return w * ripe * way_out * settlement


@njit(cache=True, inline="always")
def accidents(w: float, risk_tolerance: float, exposure: float, contact_delta: float) -> float:
    """Risk-averse actors avoid keeping forces in a hot contact."""
    return -w * (1.0 - risk_tolerance) * exposure * contact_delta


@njit(cache=True, inline="always")
def hurt(costs: float, scale: float) -> float:
    """How much the crisis hurts an actor, 0-1, from its accumulated costs."""
    return 1.0 - math.exp(-costs / scale)


@njit(cache=True, inline="always")
def ripe(hurt_a: float, hurt_b: float, threshold: float, width: float) -> float:
    """Ripeness of a conflict: a logistic step in the two sides' mutual (smaller) hurt."""
    return 1.0 / (1.0 + math.exp(-(min(hurt_a, hurt_b) - threshold) / width))


@njit(cache=True, inline="always")
def incident_risk(tension: float, buffer: float) -> float:
    """Risk of an incident between forces in contact, 0-1: rises with tension squared."""
    level = tension / 100.0
    return level * level * (1.0 - buffer)
