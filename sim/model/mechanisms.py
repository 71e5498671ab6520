"""The decision rule's formulas: one named utility term per mechanism, and the small formulas around them.

Each function is a scalar formula of what an actor sees about one option (a move
towards one target) or about the day. The compiled engine (`kernel.py`) and the
plain reference implementation (`reference.py`) both call these same functions,
so every formula lives in exactly one place; docs/model.md gives each with its
source. The utility terms add up to the utility the logit stages use.
"""

from __future__ import annotations

import math

from numba import njit

TERMS = (
    "disposition",
    "issues",
    "reciprocity",
    "deterrence",
    "audience_costs",
    "alliance",
    "mediation",
    "agreement",
    "escalation",
    "accidents",
)

# Columns of the mechanism-parameter table (spec.params), in this order.
PARAMS = (
    "rationality",
    "activity.base",
    "activity.arousal",
    "activity.crisis",
    "activity.prominence",
    "activity.max_moves",
    "activity.response",
    "activity.memory",
    "disposition.hawkishness",
    "disposition.verbal_cost",
    "disposition.material_cost",
    "disposition.capability_discount",
    "disposition.sunk_cost",
    "issues.weight",
    "issues.loss_aversion",
    "issues.adaptation",
    "issues.chronic",
    "reciprocity.weight",
    "reciprocity.memory",
    "reciprocity.fatigue",
    "reciprocity.mirror",
    "deterrence.weight",
    "deterrence.verbal_share",
    "audience_costs.weight",
    "audience_costs.decay",
    "audience_costs.signal",
    "alliance.weight",
    "alliance.memory",
    "alliance.restraint",
    "mediation.weight",
    "mediation.decay",
    "mediation.implementation",
    "mediation.drive",
    "bargaining.precision",
    "bargaining.cost_weight",
    "bargaining.hurt_scale",
    "bargaining.recovery",
    "bargaining.implementation",
    "bargaining.prospect",
    "bargaining.demands_met",
    "escalation.jump_cost",
    "escalation.memory",
    "escalation.shared",
    "accidents.weight",
    "accidents.hazard",
    "accidents.escalation",
    "accidents.casualties",
    "accidents.weariness",
    "retaliation.weight",
    "retaliation.arousal",
    "tension.decay",
    "tension.event_scale",
    "tension.posture_scale",
    "outcome.resolution_threshold",
    "outcome.resolution_window",
)
(
    RATIONALITY, ACT_BASE, ACT_AROUSAL, ACT_CRISIS, PROMINENCE, MAX_MOVES, ACT_RESPONSE, ACT_MEMORY,
    HAWK_W, VERBAL_COST, MATERIAL_COST, CAP_DISCOUNT, SUNK_COST,
    ISSUE_W, LOSS_AVERSION, ADAPTATION, CHRONIC,
    RECIP_W, RECIP_MEMORY, FATIGUE, MIRROR,
    DETER_W, VERBAL_SHARE,
    AUDIENCE_W, AUDIENCE_DECAY, SIGNAL,
    ALLIANCE_W, ALLIANCE_MEMORY, RESTRAINT,
    MEDIATION_W, MEDIATION_DECAY, IMPLEMENTATION, DRIVE,
    BARGAIN_PRECISION, COST_WEIGHT, HURT_SCALE, RECOVERY, CARRY_OUT, PROSPECT, DEMANDS_MET,
    JUMP_COST, LADDER_MEMORY, LADDER_SHARED,
    ACCIDENT_W, HAZARD, ESCALATION, CASUALTIES, WEARINESS,
    RETALIATION_W, RETALIATION_AROUSAL,
    TENSION_DECAY, EVENT_SCALE, POSTURE_SCALE,
    RESOLUTION_THRESHOLD, RESOLUTION_WINDOW,
) = range(len(PARAMS))  # fmt: skip

# Rungs of the escalation ladder, by CAMEO root: cooperation (01-09), verbal conflict (10-13),
# coercion short of violence (14-17), violence (18-20).
RUNGS = ("cooperate", "verbal conflict", "coercion", "violence")
N_RUNGS = len(RUNGS)
BLOW_RUNG = float(RUNGS.index("violence"))  # a blow that asks for an answer (docs/model.md 7.3)
ANSWER_RUNG = float(RUNGS.index("coercion"))  # the least rung of a material move that answers it


# ---------------------------------------------------------------- stage 1: how many moves today


# The most moves an actor can make in a day, whatever `activity.max_moves` says: the width of the
# random stream's slots per actor and day (one for the count, three per move).
MOST_MOVES = 4


@njit(cache=True)
def activity_rate(
    role_rate: float,
    base: float,
    arousal_w: float,
    stake: float,
    arousal: float,
    capability: float,
    prominence: float,
    response_w: float,
    attention: float,
) -> float:
    """Expected reportable moves today: a Poisson rate, in proportion to the actor's stake.

    An actor that cares about the issues (stake) speaks now and then at rest, and more the more
    aroused it is; one with no stake stays quiet whatever happens. The strong make more of the
    moves that are reported (`prominence`, an exponent of capability: Galtung and Ruge's news
    values; Weidmann 2016 on reporting bias in event data).
    """
    return role_rate * stake * capability**prominence * (base + arousal_w * arousal + response_w * attention)


@njit(cache=True)
def move_count(rate: float, most: float, u: float) -> int:
    """Today's number of moves: a Poisson count with mean `rate`, capped at `most`, by inversion of u.

    Event data count several events a day for an aroused actor (the 2021 record has Serbia three
    times on days 1, 3 and 6); the cap is the busiest actor-day of the records.
    """
    chance = math.exp(-rate)
    cumulative = chance
    k = 0
    while u >= cumulative and k < most:
        k += 1
        chance *= rate / k
        cumulative += chance
    return k


# ---------------------------------------------------------------- issues and positions


@njit(cache=True)
def felt_distance(
    ideal: float, point: float, reference: float, loss_aversion: float, chronic: float
) -> float:
    """How far a point on an issue is from an ideal, as felt: new losses lambda-fold, old gaps discounted.

    Prospect theory (Kahneman and Tversky 1979; Levy 1996): value is judged
    against the reference point. The part of the gap that is new since the
    reference point weighs `loss_aversion`; the part one has lived with weighs
    `chronic` (0: a long-standing status quo is accepted; 1: it hurts as much as
    a new loss without the aversion).
    """
    gap = abs(ideal - point)
    loss = gap - abs(ideal - reference)
    if loss > 0.0:
        return chronic * (gap - loss) + loss_aversion * loss
    return chronic * gap


@njit(cache=True)
def prospect(status_quo: float, offer: float, weight: float, bargaining: bool) -> float:
    """The point on an issue a party judges its grievance by: the status quo, or, while talks stand or a
    deal is in force, as far as `weight` says, the offer on the table (Zartman's way out)."""
    if bargaining:
        return status_quo + weight * (offer - status_quo)
    return status_quo


@njit(cache=True)
def gap(ideal, salience, status_quo) -> float:
    """How far the status quo is from an actor's ideal points, salience-weighted, as a share of its stake
    (0-1; plain distances, no reference point: what it asks for, not how the loss feels)."""
    num = 0.0
    den = 0.0
    for k in range(len(status_quo)):
        num += salience[k] * abs(ideal[k] - status_quo[k])
        den += salience[k]
    return num / den if den > 0.0 else 0.0


@njit(cache=True)
def demands_met(gap: float, pressed: float) -> float:
    """How far a coercive posture's demand has been met, 0-1: the share of the gap the holder took it up
    over (`pressed`) that has closed since. Compellence promises to stop once the demand is complied
    with (Schelling 1966; George 1991): a posture taken up by a satisfied actor demands nothing."""
    if pressed <= 0.0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - gap / pressed))


# ---------------------------------------------------------------- utility terms


@njit(cache=True)
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


@njit(cache=True)
def issues(w: float, drive: float, net: float, gain: float) -> float:
    """Dissatisfaction drives hostility at those who stand for the status quo; moves that shift it pay."""
    return w * (drive * net + gain)


@njit(cache=True)
def reciprocity(
    w: float,
    grievance: float,
    fatigue: float,
    own_hostility: float,
    net: float,
    mirror: float,
    contact_delta: float,
    target_in_contact: float,
    answer_w: float,
    unanswered: float,
    answers: float,
) -> float:
    """Richardson: hostility received invites hostility, one's own drains it; forces mirror forces. A blow
    not yet answered invites a material answer towards the one who struck (`answers`: 1 for a material
    move on the coercive rung or above)."""
    return (
        w
        * (
            (grievance - fatigue * own_hostility) * net
            + mirror * contact_delta * (2.0 * target_in_contact - 1.0)
        )
        + answer_w * unanswered * answers * net
    )


@njit(cache=True)
def answers(material: float, rung: float) -> float:
    """1 for a move that answers a blow (material, on the coercive rung or above), else 0."""
    return 1.0 if material > 0.0 and rung >= ANSWER_RUNG else 0.0


@njit(cache=True)
def repaid(owed: float, size: float, material: float, rung: float) -> float:
    """How much of the blows owed to the target a hostile move of weight `size` (|g|/10) answers: its own
    size at most, and nothing unless it answers (docs/model.md 7.3)."""
    return min(owed, size) if answers(material, rung) > 0.0 else 0.0


@njit(cache=True)
def deterrence(
    w: float, risk_tolerance: float, balance: float, hostility: float, material: float, verbal_share: float
) -> float:
    """The target side's share of the balance of strength makes escalation costly, steeply so for force."""
    return (
        -w
        * (1.0 - risk_tolerance)
        * balance
        * hostility
        * hostility
        * (material + verbal_share * (1.0 - material))
    )


@njit(cache=True)
def audience_costs(
    w: float,
    commitment: float,
    concession: float,
    agreement: float,
    signal: float,
    resolve: float,
    doubt: float,
    aroused: float,
) -> float:
    """Fearon: backing down after public commitments hurts at home, unless a deal gives cover; tying
    one's hands in public is a risk only the resolved take lightly, and worth taking while the target
    doubts one's resolve and something is at stake (`aroused`, 0-1)."""
    return -w * (
        commitment * concession * (1.0 - agreement) + signal * (1.0 - resolve - doubt * min(aroused, 1.0))
    )


@njit(cache=True)
def alliance(
    w: float,
    backing: float,
    pull: float,
    hostility: float,
    adversary: float,
    support: float,
    ally: float,
    resolve: float,
    capability: float,
    target_crisis: float,
    restrain: float,
    restraint: float,
    risk_tolerance: float,
) -> float:
    """Allies embolden their side and back allies in trouble, as far as their backing adds strength (their
    capability); a risk-averse patron restrains its client."""
    return (
        w * ((backing + pull) * hostility * adversary + support * ally * resolve * capability * target_crisis)
        + restraint * restrain * ally * (1.0 - risk_tolerance) * target_crisis
    )


@njit(cache=True)
def mediation(
    w: float,
    pressure: float,
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
        pressure * (cooperation - hostility) * party + drive * resolve * leverage * target_crisis * intensity
    )


@njit(cache=True)
def agreement(
    w: float, in_force: float, cooperation: float, hostility: float, party: float, keeps: float
) -> float:
    """A signed deal pulls its parties to carry it out, and makes moves that break its terms costly."""
    return w * in_force * ((cooperation - hostility) * party + keeps)


@njit(cache=True)
def escalation(jump_cost: float, rung: float, ladder: float) -> float:
    """The ladder: a coercive or violent move above the pair's recent level pays for each rung skipped."""
    if rung < 2.0:
        return 0.0
    return -jump_cost * max(0.0, rung - 1.0 - ladder)


@njit(cache=True)
def accidents(w: float, risk_tolerance: float, exposure: float, contact_delta: float) -> float:
    """Risk-averse actors avoid keeping forces in a hot contact."""
    return -w * (1.0 - risk_tolerance) * exposure * contact_delta


# ---------------------------------------------------------------- the day's situation


@njit(cache=True)
def hurt(costs: float, scale: float) -> float:
    """How much the crisis hurts an actor, 0-1, from its accumulated costs."""
    return 1.0 - math.exp(-costs / scale)


@njit(cache=True)
def balance(own: float, other: float) -> float:
    """The other side's share of the perceived balance of strength, 0-1 (0.5 at parity)."""
    total = own + other
    if total <= 0.0:
        return 0.5
    return other / total


@njit(cache=True)
def side_strength(capability: float, bonus: float, belief: float) -> float:
    """One actor's weight on its side: capability, raised by deterrent postures, times perceived resolve."""
    return capability * (1.0 + bonus) * (0.5 + belief)


@njit(cache=True)
def commitment(backing: float) -> float:
    """How far an ally counts on one's side, 0-2: 1 by affinity alone, up to twice after public support,
    down to nothing after it publicly pressed its client to back down (Huth 1988; Snyder 1984)."""
    return min(2.0, max(0.0, 1.0 + backing))


@njit(cache=True)
def no_deal_value(
    status_quo: float, win: float, lose: float, contest: float, cost_weight: float, hurt: float
) -> float:
    """What a principal expects without a deal: the status quo as it stands, or, as far as the crisis has
    become a contest, the contest's lottery (prevail with chance `win`, else the opponent's ideal),
    less the pain of going on (Fearon 1995; Powell 2006; Zartman's hurting stalemate)."""
    return (1.0 - contest) * status_quo + contest * (1.0 - win) * lose - cost_weight * hurt


@njit(cache=True)
def accept_probability(
    precision: float,
    deal: float,
    fight: float,
    pressure: float,
    w_pressure: float,
    commitment: float,
    w_audience: float,
    contest: float,
) -> float:
    """A principal accepts the offer when it beats going on, plus leverage in a crisis, less audience costs.

    Zartman: a deal comes when continuing hurts and promises no victory;
    Touval and Zartman: mediators with leverage add to the value of the deal,
    as far as there is a crisis to settle (`contest`, 0-1); Fearon: public
    commitments make accepting a compromise costly at home.
    """
    margin = deal - fight + contest * w_pressure * pressure - w_audience * commitment
    z = -precision * margin
    if z > 700.0:  # exp would overflow: compiled code gets 1/inf = 0, plain Python an OverflowError
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


@njit(cache=True)
def believe(belief: float, rate: float, strength: float) -> float:
    """Bayesian-flavoured update: a costly signal moves the belief in the sender's resolve towards 1."""
    return belief + rate * strength * (1.0 - belief)


@njit(cache=True)
def doubt(belief: float, rate: float) -> float:
    """A concession moves the belief in the sender's resolve towards 0."""
    return belief - rate * belief


@njit(cache=True)
def incident_risk(tension: float, buffer: float) -> float:
    """Risk of an incident between forces in contact, 0-1: rises with tension squared."""
    level = tension / 100.0
    return level * level * (1.0 - buffer)
