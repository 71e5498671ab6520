"""The scenario schema: what a scenario file may say, validated by pydantic.

One pydantic model per concern, every field documented (the text becomes the
JSON Schema description editors show). Cross-references (an actor named in an
event, a move in a repertoire) are checked against the ids the loader passes in
the validation context, so every error carries the exact dotted location.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim.scenario import cameo

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
Id = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=40,
        description="A lower-case identifier: letters, digits and underscores.",
    ),
]
# Size limits: a scenario is hand-written data, so anything far past these is a
# mistake or an attack (a million-character name validates in no time and then
# takes minutes to draw). Postures are bits of a 64-bit mask in the engine.
MAX_ACTORS = 50
MAX_MOVES = 200
MAX_POSTURES = 62
MAX_ROLES = 50
MAX_EVENTS = 1000
MAX_LIST = 200
Name = Annotated[str, Field(min_length=1, max_length=80)]
Label = Annotated[str, Field(max_length=200)]
Text = Annotated[str, Field(max_length=4000)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0, le=100.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


def _suggest(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _ref(kind: str):
    """Validator factory: the value must be one of the ids of `kind` in the context."""

    def check(value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get(kind)
        if known is not None and value not in known:
            expected = (
                f"expected one of: {', '.join(sorted(known))}" if known else f"the scenario has no {kind}"
            )
            raise PydanticCustomError(
                "unknown_ref",
                "unknown {kind} '{value}', {expected}{hint}",
                {
                    "kind": kind.rstrip("s"),
                    "value": value,
                    "expected": expected,
                    "hint": _suggest(value, sorted(known)),
                },
            )
        return value

    return AfterValidator(check)


ActorRef = Annotated[str, _ref("actors")]
IssueRef = Annotated[str, _ref("issues")]
MoveRef = Annotated[str, _ref("moves")]
PostureRef = Annotated[str, _ref("postures")]
RoleRef = Annotated[str, _ref("roles")]


def _check_requirement(value: str, info: ValidationInfo) -> str:
    scope, _, posture = value.partition(":")
    if scope not in ("self", "target", "any") or not posture:
        raise PydanticCustomError(
            "bad_requirement",
            "expected 'self:POSTURE', 'target:POSTURE' or 'any:POSTURE', found '{value}'",
            {"value": value},
        )
    known = (info.context or {}).get("postures")
    if known is not None and posture != "contact" and posture not in known:
        raise PydanticCustomError(
            "unknown_ref",
            "unknown posture '{posture}' (or 'contact'){hint}",
            {"posture": posture, "hint": _suggest(posture, sorted(known))},
        )
    return value


Requirement = Annotated[str, Field(max_length=100), AfterValidator(_check_requirement)]


class Strict(BaseModel):
    """Base: unknown keys are errors, values are immutable once loaded.

    Types are strict: `true` is not 1.0 and "0.5" is not a number (a whole
    number is still accepted where a float is expected).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StartingPosture(Strict):
    """A standing posture an actor holds when the scenario starts."""

    posture: PostureRef = Field(description="Posture id from the catalogue.")
    target: ActorRef = Field(description="The actor the posture is directed at.")


class Actor(Strict):
    """One actor of the crisis and its stated stances (all on 0-1 scales)."""

    name: Name = Field(description="Display name used in tables and plots.")
    code: Annotated[str, Field(max_length=16)] | None = Field(
        default=None,
        description="Actor code used in CAMEO-coded event data (e.g. SRB).",
    )
    role: RoleRef = Field(
        description="Role that sets the move repertoire (state, minority, mediator, "
        "guarantor, kin_state, patron, great_power, or one the scenario defines)."
    )
    capability: Prob = Field(
        description="Military and coercive capability that can be brought to bear "
        "in the theatre, 0 none to 1 the strongest actor present."
    )
    resolve: Prob = Field(
        description="Commitment to its stated position; scales how much it backs "
        "allies and presses mediation (0 indifferent, 1 existential stake)."
    )
    risk_tolerance: Prob = Field(
        description="Willingness to accept the risk of incidents and of facing "
        "deterrent threats (0 very risk-averse, 1 indifferent to risk)."
    )
    hawkishness: Prob = Field(
        description="Baseline preference for hostile over cooperative moves "
        "(0 dovish, 0.5 neutral, 1 hawkish)."
    )
    positions: dict[IssueRef, Prob] = Field(
        default_factory=dict,
        description="Ideal point on each issue in dispute (0 = the issue's `low` end, 1 = its `high` end); "
        "issues not listed are of no concern to the actor.",
    )
    salience: dict[IssueRef, Prob] = Field(
        default_factory=dict,
        description="How much each issue matters to the actor, 0-1; the saliences of one actor add up "
        "to at most 1 (Bueno de Mesquita's salience; KTAB's issue weight).",
    )
    postures: list[StartingPosture] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Standing postures held on day 0 (with a history: on its first day).",
    )
    leverage: dict[ActorRef, Prob] = Field(
        default_factory=dict,
        max_length=MAX_ACTORS,
        description="For third parties: leverage over other actors (e.g. the EU's "
        "accession leverage over Serbia and Kosovo), 0 none to 1 decisive.",
    )
    moves: list[MoveRef] = Field(
        default_factory=list, max_length=MAX_LIST, description="Moves allowed beyond the role's repertoire."
    )
    exclude_moves: list[MoveRef] = Field(
        default_factory=list, max_length=MAX_LIST, description="Moves of the role this actor never makes."
    )

    @model_validator(mode="after")
    def _salience_total(self) -> Actor:
        total = sum(self.salience.values())
        if total > 1.0 + 1e-9:
            raise PydanticCustomError(
                "salience_total",
                "the saliences of one actor add up to at most 1, found {total}",
                {"total": round(total, 4)},
            )
        return self


class Issue(Strict):
    """An issue in dispute: a dimension from 0 to 1 on which actors hold positions."""

    label: Label = Field(description="What the issue is, in words.")
    low: Label = Field(default="", description="What 0 on this issue means.")
    high: Label = Field(default="", description="What 1 on this issue means.")
    status_quo: Prob = Field(
        description="Where the issue stands on day 0 before any scripted move (with a history: on its "
        "first day)."
    )


class PostureDef(Strict):
    """A standing posture: set by a move, it persists (and keeps pressing) until cleared."""

    label: Label = Field(description="What the posture is, in words.")
    pressure: float = Field(
        default=0.0,
        ge=-10.0,
        le=10.0,
        description="Daily tension pressure on the owner-target dyad, in Goldstein "
        "units (positive raises tension).",
    )
    cost: float = Field(default=0.0, ge=0.0, le=10.0, description="Daily cost to the owner (feeds its hurt).")
    contact: bool = Field(
        default=False,
        description="Forces on the ground: adversaries both in contact can have accidents.",
    )
    buffer: Prob = Field(default=0.0, description="Share of the accident hazard this posture absorbs.")
    deterrence: float = Field(
        default=0.0,
        ge=0.0,
        le=5.0,
        description="Extra weight of the owner's capability in deterrence while held.",
    )
    blocks_resolution: bool = Field(
        default=False, description="While held, the crisis cannot count as resolved."
    )
    max_days: int | None = Field(
        default=None, ge=1, le=3650, description="Lapses by itself after this many days."
    )
    pledge: bool = Field(
        default=False,
        description="Held by each principal party that has signed the agreement in force.",
    )
    talks: bool = Field(
        default=False,
        description="Mediated talks under way: while held, the principal parties weigh the mediator's offer.",
    )


class MoveDef(Strict):
    """A move in the catalogue, coded with CAMEO and weighted on the Goldstein scale."""

    label: Label | None = Field(default=None, description="Description; defaults to the CAMEO label.")
    cameo: str | None = Field(
        default=None,
        pattern=r"^[0-2][0-9]{1,3}$",
        description="CAMEO event code as a string (leading zeros kept); null for no event.",
    )
    goldstein: float | None = Field(
        default=None,
        ge=-10.0,
        le=10.0,
        description="Goldstein weight; defaults to the CAMEO table's weight for the code.",
    )
    targets: Literal["opponent", "adversary", "ally", "party", "any", "self"] = Field(
        description="Whom the move may be directed at: opponents (adversaries that are "
        "parties to the conflict), adversaries (affinity below -0.1), allies (affinity "
        "above 0.3), parties to the conflict, anyone, or nobody (self)."
    )
    sets: PostureRef | None = Field(default=None, description="Posture the move sets.")
    clears: PostureRef | None = Field(default=None, description="Posture the move clears.")
    requires: list[Requirement] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Postures that must stand for the move to be allowed: "
        "'self:P', 'target:P' or 'any:P' ('contact' = any contact posture).",
    )
    forbids: list[Requirement] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Postures that must not stand for the move to be allowed (same form).",
    )
    concession: bool = Field(default=False, description="Backing down: audience costs apply.")
    shifts: dict[IssueRef, Prob] = Field(
        default_factory=dict,
        description="Issues whose status quo the move sets, and to what (e.g. a rule imposed moves its "
        "issue to 1, its withdrawal back to 0).",
    )
    restrain: bool = Field(
        default=False, description="A patron presses its own client to hold back (fear of entrapment)."
    )
    mediation: float = Field(
        default=0.0, ge=0.0, le=5.0, description="Mediation pressure it puts on the target."
    )
    support: bool = Field(default=False, description="Public backing of an ally.")
    accident: bool = Field(
        default=False,
        description="Never chosen: made only by the accident process or a scripted event (e.g. a trigger).",
    )
    settles: bool = Field(
        default=False,
        description="Signing the agreement: made by the bargaining process when both principal parties "
        "accept the offer on the same day, never chosen on its own.",
    )
    clash: bool = Field(default=False, description="An armed clash (ends as 'clash').")
    cost: float | None = Field(
        default=None,
        ge=0.0,
        le=10.0,
        description="Utility cost of making the move; defaults to the disposition costs.",
    )

    @field_validator("cameo")
    @classmethod
    def _cameo_in_the_table(cls, value: str | None) -> str | None:
        """A code the engine can weigh, label and place on the ladder (the label table's, or its root's)."""
        if value is not None and not cameo.known(value):
            raise PydanticCustomError(
                "unknown_cameo",
                "expected a CAMEO event code whose root is 01 to 20",
                {},
            )
        return value


class RoleDef(Strict):
    """A role and its move repertoire."""

    party: bool = Field(default=False, description="Actors with this role are parties to the conflict.")
    activity: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=1.0,
        description="How often an actor of this role makes a reportable move, relative to a state "
        "(multiplies the daily activity rate).",
    )
    moves: list[MoveRef] = Field(max_length=MAX_LIST, description="Moves the role allows (hold always is).")


def _calibratable(low: float, high: float) -> dict:
    """Marks a free parameter for calibration and sensitivity analysis, with its prior range."""
    return {"calibratable": [low, high]}


class Activity(Strict):
    """Stage 1 of the choice: how many reportable moves an actor makes today."""

    base: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        json_schema_extra=_calibratable(0.005, 0.2),
        default=0.05,
        description="Daily move rate of a calm, fully concerned state (per unit of stake).",
    )
    arousal: Annotated[float, Field(ge=0.0, le=20.0)] = Field(
        json_schema_extra=_calibratable(0.02, 4.0),
        default=1.2,
        description="Extra daily move rate per unit of arousal (dissatisfaction, and the crisis as weighted "
        "by `crisis`).",
    )
    crisis: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        json_schema_extra=_calibratable(0.0, 2.0),
        default=1.0,
        description="Weight of the crisis (the actor's own and the world's) in arousal, relative to "
        "dissatisfaction: 1 counts them alike, 0 leaves arousal to dissatisfaction alone.",
    )
    prominence: Prob = Field(
        json_schema_extra=_calibratable(0.0, 1.0),
        default=0.5,
        description="Exponent of capability in the move rate: the strong make more reportable moves "
        "(news values; reporting bias of event data). 0: capability does not matter.",
    )
    response: Annotated[float, Field(ge=0.0, le=20.0)] = Field(
        json_schema_extra=_calibratable(0.0, 1.5),
        default=0.2,
        description="Extra daily move rate per unit of attention: the weight (|Goldstein|/10) of the moves "
        "lately directed at the actor, which it answers (reciprocity in event data).",
    )
    memory: Rate = Field(
        default=0.5,
        description="Daily decay of attention: a move is answered within a day or two.",
    )
    max_moves: Annotated[int, Field(ge=1, le=4)] = Field(
        default=3,
        description="Most reportable moves an actor makes in a day (the busiest actor-day of the records).",
    )


class Disposition(Strict):
    """Baseline terms: hawkishness and the cost of acting at all."""

    hawkishness: Weight = Field(
        default=2.0, description="Utility per unit of hostility for a fully hawkish actor."
    )
    verbal_cost: Weight = Field(
        json_schema_extra=_calibratable(0.5, 4.0), default=1.5, description="Cost of any verbal move."
    )
    material_cost: Weight = Field(
        json_schema_extra=_calibratable(1.0, 12.0), default=3.0, description="Cost of any material move."
    )
    capability_discount: Prob = Field(
        default=0.5,
        description="How much cheaper material moves are for the most capable actor "
        "(cost x (1 - discount x capability)).",
    )
    sunk_cost: Prob = Field(
        json_schema_extra=_calibratable(0.0, 1.0),
        default=0.5,
        description="Share of the material cost already sunk when a show of force displays forces the "
        "actor holds on alert: the display costs (1 - sunk_cost) of a material move (Fearon 1997).",
    )


class Issues(Strict):
    """Dissatisfaction with the status quo on the issues in dispute drives hostility (prospect theory)."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 6.0),
        default=3.0,
        description="Utility per unit of issue-driven grievance against an opponent, and per unit of gain "
        "from moving the status quo.",
    )
    loss_aversion: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        default=2.25,
        description="How much more a loss against one's reference point weighs than an equal shortfall "
        "one has lived with (Kahneman and Tversky's lambda, 2.25).",
    )
    adaptation: Rate = Field(
        json_schema_extra=_calibratable(0.0, 0.1),
        default=0.03,
        description="Daily rate at which actors' reference points move to the status quo (habituation).",
    )
    chronic: Prob = Field(
        json_schema_extra=_calibratable(0.0, 1.0),
        default=0.3,
        description="Weight of a long-standing gap between the status quo and one's ideal, relative to a "
        "new loss without the aversion (0: an old status quo is accepted; 1: it hurts like a new loss).",
    )


class Reciprocity(Strict):
    """Richardson reciprocity: hostility received invites hostility; fatigue drains it."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 6.0),
        default=2.0,
        description="Utility per unit of net grievance.",
    )
    memory: Rate = Field(default=0.2, description="Daily decay of grievance stocks.")
    fatigue: Weight = Field(
        default=0.8,
        description="How strongly one's own past hostility drains the urge (at 1 or more an exchange "
        "burns out, below 1 it feeds itself: Richardson's stability condition; an armed clash's "
        "casualties raise that level unless they weigh on both sides as war weariness too).",
    )
    mirror: Weight = Field(
        default=1.0,
        description="Pull to keep forces in contact while the opponent keeps its own, "
        "and to stand them down once it has (in units of reciprocity weight).",
    )


class Deterrence(Strict):
    """The balance of capabilities, with allies' commitment, makes escalation against the stronger costly."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 6.0),
        default=3.0,
        description="Utility cost of hostility against a side that holds the whole balance.",
    )
    verbal_share: Prob = Field(
        default=0.3,
        description="Share of the cost borne by verbal hostility (threats are cheaper than force, not free).",
    )


class AudienceCosts(Strict):
    """Fearon: public commitments tie hands at home and, being costly, signal resolve to others."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 3.0),
        default=1.5,
        description="Cost of a concession per unit of commitment.",
    )
    decay: Rate = Field(default=0.08, description="Daily decay of the commitment stock.")
    signal: Prob = Field(
        default=0.2,
        description="How far one costly signal moves observers' belief in the sender's resolve towards 1 "
        "(and a concession towards 0).",
    )


class Alliance(Strict):
    """Allies embolden their side, and a patron that fears entrapment restrains its client (Snyder)."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 3.0),
        default=1.5,
        description="Utility per unit of allied backing.",
    )
    memory: Rate = Field(default=0.2, description="Daily decay of recent backing.")
    restraint: Weight = Field(
        default=1.5,
        description="A risk-averse patron's urge, per unit of its client's crisis, to press the client.",
    )


class Mediation(Strict):
    """Third parties' appeals pull both sides towards de-escalation by leverage and affinity."""

    weight: Weight = Field(
        json_schema_extra=_calibratable(0.5, 6.0),
        default=2.0,
        description="Utility per unit of mediation pressure.",
    )
    decay: Rate = Field(default=0.3, description="Daily decay of mediation pressure.")
    implementation: Weight = Field(
        json_schema_extra=_calibratable(0.5, 4.0),
        default=2.0,
        description="Pull to carry out a signed agreement (and cost of moves that break it).",
    )
    drive: Weight = Field(default=3.0, description="Mediators' urge to act per unit of crisis tension.")


class Bargaining(Strict):
    """Settlement: a principal accepts the mediator's offer when it beats fighting on (Zartman, Fearon)."""

    precision: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        json_schema_extra=_calibratable(2.0, 30.0),
        default=10.0,
        description="Logit precision of the daily accept-or-reject decision (per unit of utility).",
    )
    cost_weight: Weight = Field(
        json_schema_extra=_calibratable(0.1, 2.0),
        default=0.6,
        description="Weight of the pain of the crisis (hurt, 0-1) in the value of fighting on: "
        "the 'mutually hurting' part of ripeness.",
    )
    hurt_scale: Annotated[float, Field(gt=0.0, le=1000.0)] = Field(
        default=6.0, description="Accumulated cost at which hurt reaches 63%."
    )
    recovery: Rate = Field(default=0.05, description="Daily fading of accumulated costs.")
    implementation: Prob = Field(
        json_schema_extra=_calibratable(0.05, 1.0),
        default=0.5,
        description="Daily chance that a party bound by a deal in force (a signatory, or an ally of one in "
        "proportion to affinity) ends each posture that blocks resolution: the deal's implementation.",
    )
    prospect: Prob = Field(
        json_schema_extra=_calibratable(0.0, 1.0),
        default=1.0,
        description="How far a party in talks, or bound by a deal in force, judges the issues by the offer "
        "on the table rather than the status quo (0: by the status quo).",
    )
    demands_met: Prob = Field(
        default=1.0,
        description="Demands met: the holder of a coercive posture (a blocking posture whose ending concedes "
        "nothing) ends it with the daily chance `implementation` times this times the share of the gap it "
        "took the posture up over that has closed since (0: only a deal ends it).",
    )


class Escalation(Strict):
    """The escalation ladder: verbal before coercive before violent (Kahn; Schelling)."""

    jump_cost: Weight = Field(
        json_schema_extra=_calibratable(0.5, 6.0),
        default=2.5,
        description="Cost per rung skipped when a hostile move climbs above the pair's recent ladder level.",
    )
    memory: Rate = Field(default=0.1, description="Daily decay of a pair's ladder level.")
    shared: Prob = Field(
        json_schema_extra=_calibratable(0.0, 1.0),
        default=1.0,
        description="How much of the rung one side climbs counts as climbed by the other too: 1, the pair "
        "shares one ladder (either side's move lets both answer on its rung); 0, each side climbs its own.",
    )


class Accidents(Strict):
    """Incidents between forces in contact, at a hazard rising with tension."""

    weight: Weight = Field(default=3.0, description="Utility cost per unit of hazard for risk-averse actors.")
    hazard: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        json_schema_extra=_calibratable(0.02, 0.4),
        default=0.12,
        description="Daily incident hazard between forces in contact at tension 100.",
    )
    escalation: Prob = Field(
        default=0.08,
        description="Chance that an incident at tension 100 becomes an armed clash.",
    )
    casualties: Weight = Field(
        default=2.0,
        description="Grievance and domestic pressure an armed clash leaves on both sides (and their allies).",
    )
    weariness: Weight = Field(
        default=1.0,
        description="War weariness: the share of an armed clash's casualties that also adds to each side's "
        "own hostility stock, which fatigue drains (at 1 casualties feed the urge to answer and the "
        "weariness alike, so fatigue above 1 stays Richardson's stability condition; at 0 an exchange of "
        "clashes burns out only at fatigue above 1 + 2 x casualties).",
    )


class Retaliation(Strict):
    """A blow not yet answered: violence taken asks for a material answer towards the one who struck."""

    weight: Weight = Field(
        default=0.0,
        description="Pull of an unanswered blow towards a material answer (a coercive or violent move) "
        "against the one who struck, per unit of the blow (|Goldstein|/10); 0 switches it off. Fitted in "
        "the library (docs/model.md 7.1, 8.4).",
    )
    arousal: Weight = Field(
        default=0.0,
        description="How much the blows an actor has taken and not answered rouse it to act, in the units "
        "of its dissatisfaction (docs/model.md 7.2); 0 switches it off. A victim gets used to an unanswered "
        "blow as to any loss, at the reference points' rate (issues.adaptation).",
    )


class TensionParams(Strict):
    """Dyadic tension: fed by events and standing postures, decaying towards zero."""

    decay: Rate = Field(
        default=0.15,
        description="Daily relative decay of dyadic tension.",
    )
    event_scale: Weight = Field(default=3.0, description="Tension points per Goldstein unit of an event.")
    posture_scale: Weight = Field(
        default=3.0, description="Tension points per Goldstein unit of daily posture pressure."
    )


class OutcomeParams(Strict):
    """When a run counts as resolved."""

    resolution_threshold: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=20.0, description="Global tension below which the crisis may count as over."
    )
    resolution_window: Annotated[int, Field(ge=1, le=365)] = Field(
        default=3, description="Days the calm must last to count as resolved."
    )


class Mechanisms(Strict):
    """Parameters of the decision rule and of the state dynamics.

    Fields marked `calibratable` (with a plausible range) are the free
    parameters that calibration and sensitivity analysis vary. The others keep
    their documented values: `rationality` sets the scale of utility (every
    weight is calibrated in its units, so it would only rescale them), loss
    aversion is Tversky and Kahneman's (1992) estimate, and the rest are
    structural rates a single record cannot pin down (docs/model.md, 8).
    """

    rationality: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=1.5,
        description="Logit precision: near 0 choices are random, large values pick the best move.",
    )
    activity: Activity = Field(default_factory=Activity)
    disposition: Disposition = Field(default_factory=Disposition)
    issues: Issues = Field(default_factory=Issues)
    reciprocity: Reciprocity = Field(default_factory=Reciprocity)
    deterrence: Deterrence = Field(default_factory=Deterrence)
    audience_costs: AudienceCosts = Field(default_factory=AudienceCosts)
    alliance: Alliance = Field(default_factory=Alliance)
    mediation: Mediation = Field(default_factory=Mediation)
    bargaining: Bargaining = Field(default_factory=Bargaining)
    escalation: Escalation = Field(default_factory=Escalation)
    accidents: Accidents = Field(default_factory=Accidents)
    retaliation: Retaliation = Field(default_factory=Retaliation)
    tension: TensionParams = Field(default_factory=TensionParams)
    outcome: OutcomeParams = Field(default_factory=OutcomeParams)


class FirstMove(Strict):
    """A timing in the record: the day an actor first made one of some moves."""

    actor: ActorRef = Field(description="Who made the move.")
    moves: list[MoveRef] = Field(min_length=1, description="Any of these moves counts.")
    day: int = Field(ge=0, le=3650, description="The day it happened in the record.")


Span = Annotated[list[int], Field(min_length=2, max_length=2, description="[first day, last day]")]


class Record(Strict):
    """The coded record of the real crisis: what calibration fits and forecasts are scored against."""

    events: str = Field(
        description="Event file in the chronology format (crisis, date, day, actor, target, event, cameo, "
        "goldstein, ...), relative to this scenario file; bundled records are found by name.",
        max_length=400,
    )
    window: Span = Field(description="First and last day the record covers.")
    phases: dict[Id, Span] = Field(
        default_factory=dict, description="Named phases of the crisis: first and last day of each."
    )
    first_moves: dict[Id, FirstMove] = Field(
        default_factory=dict, description="Dated first moves (e.g. the first alert) by name."
    )
    agreement_day: int | None = Field(
        default=None, ge=0, le=3650, description="Day both principal parties signed (none: no deal)."
    )
    resolution_day: int | None = Field(
        default=None, ge=0, le=3650, description="Day the last blocking posture ended (none: it did not)."
    )
    clash: bool = Field(description="Whether the record has an armed clash.")

    @model_validator(mode="after")
    def _days(self) -> Record:
        first, last = self.window
        spans = {"window": self.window, **{f"phases.{k}": v for k, v in self.phases.items()}}
        for where, (a, b) in spans.items():
            if not 0 <= a <= b or b > 3650:
                raise PydanticCustomError(
                    "bad_span",
                    "{where}: expected [first, last] with 0 <= first <= last, found [{a}, {b}]",
                    {"where": where, "a": a, "b": b},
                )
        for k, (a, b) in self.phases.items():
            if a < first or b > last:
                raise PydanticCustomError(
                    "bad_span",
                    "phases.{k}: [{a}, {b}] lies outside the window [{first}, {last}]",
                    {"k": k, "a": a, "b": b, "first": first, "last": last},
                )
        return self


MAX_DAY = 3650  # the longest run, in days


def _as_date(value: Any) -> dt.date | None:
    """A date given as text (YYYY-MM-DD) or as a date; None when it is neither (the field reports it)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _day_or_date(data: Any, info: ValidationInfo, day_hint: str, first: int, last: int) -> Any:
    """Exactly one of `day` and `date` in an event's mapping; a date whose day number lies in
    first..last becomes that day (a date outside is left for the `date` field's own check)."""
    if not isinstance(data, dict):
        return data
    has_day, has_date = data.get("day") is not None, data.get("date") is not None
    if has_day and has_date:
        raise PydanticCustomError(
            "day_and_date", "expected either 'day' or 'date' (the same thing, two ways), not both", {}
        )
    if not has_day and not has_date:
        raise PydanticCustomError("day_or_date", f"expected {day_hint} or 'date' (YYYY-MM-DD)", {})
    start = (info.context or {}).get("start_date")
    date = _as_date(data.get("date"))
    if has_date and start is not None and date is not None and first <= (date - start).days <= last:
        data = {**data, "day": (date - start).days}
    return data


class ScriptedEvent(Strict):
    """On a given day an actor makes a given move, or parameters change.

    The day is given either as a number (`day: 3`) or as a calendar date
    (`date: 2021-09-23`); a date becomes its day number counted from the
    scenario's `start_date` (the loader passes it in the validation context).
    """

    id: Id | None = Field(
        default=None,
        description="A name for the event, unique in the scenario: a variant drops the event it inherits "
        "by listing this id under `drop_events:`, or replaces it with an event of the same id and "
        "`replace: true`.",
    )
    day: int | None = Field(
        default=None,
        ge=0,
        le=MAX_DAY,
        description="Day of the event (0 = start date); give either `day` or `date`.",
    )
    date: dt.date | None = Field(
        default=None,
        strict=False,
        exclude=True,  # the resolved scenario carries the day number
        description="Calendar date of the event (YYYY-MM-DD), instead of `day`: a day of the run, "
        "from `start_date` to its last day.",
    )
    replace: bool = Field(
        default=False,
        exclude=True,  # consumed when the variant is merged with its base
        description="In a variant (a file with `extends:`): this event takes the place of the inherited "
        "event with the same `id`, whole (every key of the old event goes).",
    )
    actor: ActorRef | None = Field(default=None, description="Who moves.")
    move: MoveRef | None = Field(default=None, description="The move made.")
    target: ActorRef | None = Field(default=None, description="Towards whom.")
    set: dict[Annotated[str, Field(max_length=200)], Any] | None = Field(
        default=None,
        max_length=MAX_LIST,
        description="Parameter changes from this day on, as dotted paths "
        "(e.g. mechanisms.mediation.weight: 0).",
    )
    label: Label | None = Field(default=None, description="Text shown on plots.")

    @model_validator(mode="before")
    @classmethod
    def _day_or_date(cls, data: Any, info: ValidationInfo) -> Any:
        """Exactly one of `day` and `date`; a date in the run becomes its day number."""
        return _day_or_date(data, info, "'day' (0 = the start date)", 0, MAX_DAY)

    @field_validator("date")
    @classmethod
    def _date_from_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = (info.context or {}).get("start_date")
        if value is None or start is None:
            return value
        if value < start:
            raise PydanticCustomError(
                "date_before_start",
                "{date} is before the start date {start}; expected a date of the run, from {start} on",
                {"date": value.isoformat(), "start": start.isoformat()},
            )
        if (value - start).days > MAX_DAY:
            raise PydanticCustomError(
                "date_too_late",
                "{date} is more than {max} days after the start date {start}",
                {"date": value.isoformat(), "max": MAX_DAY, "start": start.isoformat()},
            )
        return value

    @field_validator("replace")
    @classmethod
    def _replace_in_a_variant(cls, value: bool) -> bool:
        if value:
            raise PydanticCustomError(
                "replace_without_base",
                "'replace: true' belongs in a variant (a file with 'extends:'): it replaces the event "
                "with the same id in the base scenario",
                {},
            )
        return value

    @model_validator(mode="after")
    def _move_or_set(self) -> ScriptedEvent:
        if self.day is None:  # a date that no start date places (the start date's own error says why)
            raise PydanticCustomError("unplaced_date", "cannot place 'date' without a valid start_date", {})
        has_move = self.actor is not None or self.move is not None
        if has_move and (self.actor is None or self.move is None):
            raise PydanticCustomError("incomplete_event", "a move event needs both 'actor' and 'move'", {})
        if has_move == (self.set is not None):
            raise PydanticCustomError(
                "event_kind",
                "expected either 'actor' and 'move' (a scripted move) or 'set' "
                "(a parameter change), not both or neither",
                {},
            )
        return self


class HistoryEvent(Strict):
    """A move made before the run starts: the run-up that sets day 0's stocks and postures.

    The history is replayed before day 0 in every replicate alike: on its days only these moves
    happen (no chosen moves, no accidents, no bargaining), stocks decay day by day as in the run,
    and postures set in it keep their ages. The day is negative (`day: -5`) or a calendar date
    before `start_date` (`date: 2011-07-20`).
    """

    id: Id | None = Field(
        default=None,
        description="A name for the event, unique among the scenario's events and history.",
    )
    day: int | None = Field(
        default=None,
        ge=-MAX_DAY,
        le=-1,
        description="Day of the move before the start (-1 = the day before start_date); give either "
        "`day` or `date`.",
    )
    date: dt.date | None = Field(
        default=None,
        strict=False,
        exclude=True,  # the resolved scenario carries the day number
        description="Calendar date of the move (YYYY-MM-DD), instead of `day`: a date before `start_date`.",
    )
    actor: ActorRef = Field(description="Who moved.")
    move: MoveRef = Field(description="The move made.")
    target: ActorRef | None = Field(default=None, description="Towards whom.")
    label: Label | None = Field(default=None, description="What happened, in words.")

    @model_validator(mode="before")
    @classmethod
    def _day_or_date(cls, data: Any, info: ValidationInfo) -> Any:
        """Exactly one of `day` and `date`; a date before the start becomes its (negative) day number."""
        return _day_or_date(data, info, "'day' (-1 = the day before the start)", -MAX_DAY, -1)

    @field_validator("day", mode="before")
    @classmethod
    def _day_before_start(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            raise PydanticCustomError(
                "day_not_before_start",
                "expected a day before the start (-1 or earlier), found {day}; what happens from day 0 "
                "on belongs under 'events'",
                {"day": value},
            )
        return value

    @field_validator("date")
    @classmethod
    def _date_before_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = (info.context or {}).get("start_date")
        if value is None or start is None:
            return value
        if value >= start:
            raise PydanticCustomError(
                "date_not_before_start",
                "{date} is not before the start date {start}; expected a date before {start} "
                "(what happens from the start on belongs under 'events')",
                {"date": value.isoformat(), "start": start.isoformat()},
            )
        if (start - value).days > MAX_DAY:
            raise PydanticCustomError(
                "date_too_early",
                "{date} is more than {max} days before the start date {start}",
                {"date": value.isoformat(), "max": MAX_DAY, "start": start.isoformat()},
            )
        return value

    @model_validator(mode="after")
    def _placed(self) -> HistoryEvent:
        if self.day is None:  # a date that no start date places (the start date's own error says why)
            raise PydanticCustomError("unplaced_date", "cannot place 'date' without a valid start_date", {})
        return self


class Scenario(Strict):
    """A crisis scenario: actors, relations, mechanisms and scripted events."""

    name: Id = Field(description="Short name, used for run folder names.")
    description: Text = Field(default="", description="What the scenario represents.")
    extends: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None,
        description="Path (relative to this file) of a base scenario this one overrides.",
    )
    start_date: dt.date = Field(strict=False, description="Calendar date of day 0 (YYYY-MM-DD).")
    days: int = Field(ge=1, le=3650, description="Number of simulated days.")
    seed: int = Field(ge=0, lt=2**63, description="Seed of the random streams.")
    issues: dict[Id, Issue] = Field(
        default_factory=dict,
        max_length=MAX_LIST,
        description="The issues in dispute, by id, with their status quo on day 0.",
    )
    principals: list[ActorRef] = Field(
        default_factory=list,
        max_length=2,
        description="The two principal parties whose agreement settles the crisis (both must sign).",
    )
    actors: dict[Id, Actor] = Field(min_length=2, max_length=MAX_ACTORS, description="The actors, by id.")
    affinities: dict[
        ActorRef,
        Annotated[dict[ActorRef, Annotated[float, Field(ge=-1.0, le=1.0)]], Field(max_length=MAX_ACTORS)],
    ] = Field(
        default_factory=dict,
        max_length=MAX_ACTORS,
        description="Pairwise affinity from -1 (adversaries) to +1 (close allies); "
        "each pair once, unlisted pairs are 0.",
    )
    mechanisms: Mechanisms = Field(default_factory=Mechanisms)
    postures: dict[Id, PostureDef] = Field(
        default_factory=dict, max_length=MAX_POSTURES, description="Extra or changed standing postures."
    )
    moves: dict[Id, MoveDef] = Field(
        default_factory=dict, max_length=MAX_MOVES, description="Extra or changed moves."
    )
    roles: dict[Id, RoleDef] = Field(
        default_factory=dict, max_length=MAX_ROLES, description="Extra or changed roles."
    )
    events: list[ScriptedEvent] = Field(
        default_factory=list,
        max_length=MAX_EVENTS,
        description="Scripted moves and parameter changes; a variant's events follow its base's.",
    )
    history: list[HistoryEvent] = Field(
        default_factory=list,
        max_length=MAX_EVENTS,
        description="Moves made before day 0 (negative days or dates before start_date), replayed before "
        "the run so that it starts from their tension, grievances and standing postures; a variant's "
        "`history:` replaces its base's whole.",
    )
    drop_events: list[Id] = Field(
        default_factory=list,
        max_length=MAX_EVENTS,
        exclude=True,  # consumed when the variant is merged with its base
        description="In a variant (a file with `extends:`): ids of inherited scripted events to leave out.",
    )
    record: Record | None = Field(
        default=None, description="The coded record of the real crisis, if there is one (for calibration)."
    )
    posterior: str | None = Field(
        default=None,
        max_length=400,
        description="Posterior from `sim calibrate` (relative to this file; bundled ones are found by name): "
        "each replicate draws the calibrated parameters from it, unless point values are asked for "
        "(`sim run --point-values`); the values under `mechanisms:` are its medians.",
    )
    _folder: str | None = PrivateAttr(default=None)  # where the file was read from (finds its record)

    @field_validator("drop_events")
    @classmethod
    def _drop_in_a_variant(cls, value: list[str]) -> list[str]:
        if value:
            raise PydanticCustomError(
                "drop_without_base",
                "'drop_events' belongs in a variant (a file with 'extends:'): it leaves out events of "
                "the base scenario",
                {},
            )
        return value

    @model_validator(mode="after")
    def _principals(self) -> Scenario:
        if len(self.principals) == 1 or len(set(self.principals)) != len(self.principals):
            raise PydanticCustomError(
                "principals",
                "expected two different principal parties (or none), found {found}",
                {"found": self.principals},
            )
        return self

    @model_validator(mode="after")
    def _pairs(self) -> Scenario:
        seen: dict[frozenset[str], tuple[str, str, float]] = {}
        for a, row in self.affinities.items():
            for b, value in row.items():
                if a == b:
                    raise PydanticCustomError(
                        "self_affinity",
                        "affinities.{a}.{a}: an actor has no affinity with itself",
                        {"a": a},
                    )
                key = frozenset((a, b))
                if key in seen and seen[key][2] != value:
                    x, y, v = seen[key]
                    raise PydanticCustomError(
                        "affinity_conflict",
                        "affinities.{a}.{b} = {value} conflicts with affinities.{x}.{y} = {v}",
                        {"a": a, "b": b, "value": value, "x": x, "y": y, "v": v},
                    )
                seen[key] = (a, b, value)
        return self

    def affinity(self, a: str, b: str) -> float:
        """Affinity of a pair, whichever way round it was written (0 if unlisted)."""
        if a in self.affinities and b in self.affinities[a]:
            return self.affinities[a][b]
        return self.affinities.get(b, {}).get(a, 0.0)

    @property
    def end_date(self) -> dt.date:
        """Calendar date of the last simulated day."""
        return self.start_date + dt.timedelta(days=self.days - 1)
