"""A validated scenario compiled to arrays: what the model computes with.

Every numeric parameter has a leading batch axis of length 1 (one value for
all replicates) or R (one value per replicate), so sweeps and posterior draws
run many parameter points as one batch. `batch` maps dotted scenario paths to
arrays of shape (R,).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.errors import ScenarioError
from sim.model.mechanisms import PARAMS
from sim.scenario import cameo
from sim.scenario.schema import Scenario

CONTACT = -2  # pseudo-posture index: "any contact posture"
CONTACT_BIT = 1 << 62  # its bit in the kernel's posture bitmasks (postures use bits 0..61)
MOVE_FEATURES = (
    "goldstein",
    "hostility",
    "cooperation",
    "material",
    "commitment",
    "concession",
    "mediation",
    "support",
    "clash",
    "cost",
    "physical",
    "contact_delta",
    "rung",
    "signal",
    "restrain",
    "shifts_any",
    "sunk",
)
(
    F_GOLDSTEIN,
    F_HOSTILITY,
    F_COOPERATION,
    F_MATERIAL,
    F_COMMITMENT,
    F_CONCESSION,
    F_MEDIATION,
    F_SUPPORT,
    F_CLASH,
    F_COST,
    F_PHYSICAL,
    F_CONTACT_DELTA,
    F_RUNG,
    F_SIGNAL,
    F_RESTRAIN,
    F_SHIFTS,
    F_SUNK,
) = range(len(MOVE_FEATURES))
POSTURE_FEATURES = (
    "pressure",
    "cost",
    "contact",
    "buffer",
    "deterrence",
    "blocks",
    "max_days",
    "pledge",
    "talks",
)
# What made an event happen: its `kind` in the event log, by index (both engines write the index).
EVENT_KINDS = ("chosen", "scripted", "accident", "settlement", "implementation", "demand_met")
CHOSEN, SCRIPTED, ACCIDENT, SETTLEMENT, IMPLEMENTED, DEMAND_MET = range(len(EVENT_KINDS))
# where the demands-met draws of a day without a deal in force start in the bargaining stream: clear of
# the bargaining draws (replicate x 2 + party) for any replicate index below 2**62 (docs/model.md 7.5)
RELIEF_SLOTS = 2**62

(P_PRESSURE, P_COST, P_CONTACT, P_BUFFER, P_DETERRENCE, P_BLOCKS, P_MAX_DAYS, P_PLEDGE, P_TALKS) = range(
    len(POSTURE_FEATURES)
)
ADVERSARY_BELOW = -0.1  # affinity under which a pair are adversaries for targeting
ALLY_ABOVE = 0.3  # affinity over which a pair are allies for targeting
INCIDENT_BELOW = 0.2  # forces in contact can have incidents unless the pair are allies (affinity >= 0.2)
NO_SHIFT = -1.0  # a move's shift table entry for an issue it leaves alone
USE_DEFAULT_COST = -1.0  # a move's cost entry when it takes the disposition's verbal or material cost
SCOPES = {"self": 0, "target": 1, "any": 2}


@dataclass
class Moves:
    """The move catalogue as parallel arrays (one entry per move id)."""

    ids: list[str]
    labels: list[str]
    cameo: list[str | None]
    goldstein: np.ndarray
    hostility: np.ndarray  # max(0, -g)/10
    cooperation: np.ndarray  # max(0, g)/10
    material: np.ndarray
    commitment: np.ndarray  # verbal conflict or a hostile posture taken up: builds audience costs
    concession: np.ndarray
    mediation: np.ndarray
    support: np.ndarray
    clash: np.ndarray
    cost: np.ndarray  # explicit cost, or USE_DEFAULT_COST (the disposition's, read per replicate)
    physical: np.ndarray  # 1: a default cost is the material cost; 0: the verbal cost
    sunk: np.ndarray  # 1: a show of force with forces one already holds: part of its cost is sunk
    rung: np.ndarray  # rung of the escalation ladder (see mechanisms.RUNGS)
    signal: np.ndarray  # strength of the move as a costly signal of resolve
    restrain: np.ndarray
    shifts: np.ndarray  # (M, issues): status quo the move sets per issue, or NO_SHIFT
    shifts_any: np.ndarray
    settles: np.ndarray
    sets: np.ndarray  # posture index or -1
    clears: np.ndarray
    contact_delta: np.ndarray  # +1 sets a contact posture, -1 clears one
    requires: list[list[tuple[int, int]]]  # (scope, posture index or CONTACT)
    forbids: list[list[tuple[int, int]]]
    targets: list[str]
    accident: np.ndarray

    def index(self, move_id: str) -> int:
        return self.ids.index(move_id)


@dataclass
class Postures:
    """The standing postures as parallel arrays."""

    ids: list[str]
    labels: list[str]
    pressure: np.ndarray
    cost: np.ndarray
    contact: np.ndarray
    buffer: np.ndarray
    deterrence: np.ndarray
    blocks: np.ndarray
    max_days: np.ndarray  # 0 = never lapses
    pledge: np.ndarray
    talks: np.ndarray


@dataclass
class Options:
    """The (move, target) options of a set of actors, one row per option."""

    actor: np.ndarray
    move: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.move)


@dataclass
class Spec:
    """Everything numeric about a scenario, ready for the model."""

    scenario: Scenario
    actor_ids: list[str]
    names: list[str]
    party: np.ndarray  # (N,) bool
    capability: np.ndarray  # (B, N)
    resolve: np.ndarray
    risk_tolerance: np.ndarray
    hawkishness: np.ndarray
    affinity: np.ndarray  # (B, N, N), zero diagonal
    leverage: np.ndarray  # (B, N, N): leverage[k, i] of k over i
    salience: np.ndarray  # (B, N, N): weight of each dyad in the global index
    activity: np.ndarray  # (B, N): the actor's role activity multiplier
    issue_ids: list[str]
    positions: np.ndarray  # (N, issues): ideal points
    issue_salience: np.ndarray  # (N, issues)
    status_quo: np.ndarray  # (issues,) on day 0
    principals: np.ndarray  # (2,) actor indices, or (-1, -1) when the scenario names none
    mech: dict[str, np.ndarray]  # "reciprocity.weight" -> (B,)
    moves: Moves
    postures: Postures
    options: list[Options]  # per actor
    start_postures: list[tuple[int, int, int]]  # (actor, posture, target)
    incident_move: int
    clash_move: int
    hold_move: int
    settle_move: int  # the signing move the bargaining process makes, or -1
    batch: Mapping[str, np.ndarray] = field(default_factory=dict)
    params: np.ndarray = field(default_factory=lambda: np.zeros((1, 0)))  # (B, len(PARAMS))

    @property
    def n(self) -> int:
        return len(self.actor_ids)

    def option_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All actors' options flattened: move, target, and each actor's start offset (N+1)."""
        moves = np.concatenate([o.move for o in self.options])
        targets = np.concatenate([o.target for o in self.options])
        starts = np.zeros(self.n + 1, dtype=np.int64)
        starts[1:] = np.cumsum([len(o) for o in self.options])
        return moves.astype(np.int64), targets.astype(np.int64), starts

    def move_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Move features (M, MOVE_FEATURES), sets/clears (M, 2), condition masks (M, 6), shifts (M, issues).

        The masks are, in order: postures required of the actor, of the target, of
        anyone; postures forbidden to the actor, the target, anyone. Bit k stands
        for posture k and CONTACT_BIT for "any contact posture".
        """
        mv = self.moves
        feats = np.stack([getattr(mv, name) for name in MOVE_FEATURES], axis=1).astype(np.float64)
        shifts = np.ascontiguousarray(mv.shifts, dtype=np.float64)
        posts = np.stack([mv.sets, mv.clears], axis=1).astype(np.int64)
        conds = np.zeros((len(mv.ids), 6), dtype=np.int64)
        for m in range(len(mv.ids)):
            for offset, rows in ((0, mv.requires[m]), (3, mv.forbids[m])):
                for scope, posture in rows:
                    bit = CONTACT_BIT if posture == CONTACT else 1 << posture
                    conds[m, offset + scope] |= bit
        return feats, posts, conds, shifts

    def posture_table(self) -> np.ndarray:
        """Posture features (K, POSTURE_FEATURES)."""
        ps = self.postures
        return np.stack([getattr(ps, name) for name in POSTURE_FEATURES], axis=1).astype(np.float64)

    def actor_table(self) -> np.ndarray:
        """(B, 5, N): capability, resolve, risk tolerance, hawkishness, role activity."""
        return np.ascontiguousarray(
            np.stack(
                np.broadcast_arrays(
                    self.capability, self.resolve, self.risk_tolerance, self.hawkishness, self.activity
                ),
                axis=1,
            )
        )

    def issue_table(self) -> np.ndarray:
        """(3, N, issues): positions, salience, and the day-0 status quo broadcast over actors (row 2)."""
        k = len(self.issue_ids)
        sq = np.broadcast_to(self.status_quo.reshape(1, k), (self.n, k))
        return np.ascontiguousarray(np.stack([self.positions, self.issue_salience, sq]).reshape(3, self.n, k))

    def m(self, name: str) -> np.ndarray:
        """A mechanism parameter as a (B, 1) column, ready to broadcast over options."""
        return self.mech[name][:, None]

    def pairs(self) -> list[tuple[int, int]]:
        """Every unordered dyad (i < j)."""
        return [(i, j) for i in range(self.n) for j in range(i + 1, self.n)]


def _conditions(texts: list[str], posture_ids: list[str]) -> list[tuple[int, int]]:
    """'scope:posture' strings as (scope, posture index or CONTACT) pairs."""
    out = []
    for text in texts:
        scope, _, posture = text.partition(":")
        out.append((SCOPES[scope], CONTACT if posture == "contact" else posture_ids.index(posture)))
    return out


def _moves(scenario: Scenario, posture_ids: list[str], contact: np.ndarray, issue_ids: list[str]) -> Moves:
    ids = list(scenario.moves)
    lists: dict[str, list] = {
        k: []
        for k in (
            "labels",
            "cameo",
            "goldstein",
            "material",
            "commitment",
            "display",
            "concession",
            "mediation",
            "support",
            "clash",
            "cost",
            "physical",
            "sunk",
            "sets",
            "clears",
            "contact_delta",
            "requires",
            "forbids",
            "targets",
            "accident",
            "rung",
            "restrain",
            "shifts",
            "settles",
        )
    }
    for move_id in ids:
        mv = scenario.moves[move_id]
        code = mv.cameo
        g = mv.goldstein if mv.goldstein is not None else (cameo.goldstein(code) if code else 0.0)
        quad = cameo.quad_class(code) if code else 0
        material = quad in (2, 4)
        sets = posture_ids.index(mv.sets) if mv.sets else -1
        clears = posture_ids.index(mv.clears) if mv.clears else -1
        delta = (1 if sets >= 0 and contact[sets] else 0) - (1 if clears >= 0 and contact[clears] else 0)
        # Standing down is logistically cheap; what makes it hard is political (audience costs).
        physical = material and clears < 0
        lists["labels"].append(mv.label or (cameo.label(code) if code else move_id))
        lists["cameo"].append(code)
        lists["goldstein"].append(g)
        lists["material"].append(physical if code else False)
        # Public commitments: threats, demands, accusations, and hostile standing postures
        # taken up in public view (Fearon 1994: both tie hands).
        lists["commitment"].append(quad == 3 or (sets >= 0 and g < 0))
        # Costly signals: commitments tie hands; shows of force (CAMEO root 15) sink costs
        # (Fearon 1997). Both tell the opponent one is resolved.
        shows_force = code is not None and code[:2] == "15"
        lists["display"].append(lists["commitment"][-1] or shows_force)
        lists["concession"].append(mv.concession)
        lists["mediation"].append(mv.mediation)
        lists["support"].append(mv.support)
        lists["clash"].append(mv.clash)
        lists["cost"].append(mv.cost if mv.cost is not None else (0.0 if code is None else USE_DEFAULT_COST))
        lists["physical"].append(physical)
        # A display (CAMEO root 15) that needs a standing posture of the actor's own and sets none shows
        # forces already on alert: their cost was paid with the alert (Fearon 1997's sunk costs).
        own_posture = any(
            scope == SCOPES["self"] and posture >= 0
            for scope, posture in _conditions(mv.requires, posture_ids)
        )
        lists["sunk"].append(physical and shows_force and sets < 0 and own_posture)
        lists["sets"].append(sets)
        lists["clears"].append(clears)
        lists["contact_delta"].append(delta)
        lists["requires"].append(_conditions(mv.requires, posture_ids))
        lists["forbids"].append(_conditions(mv.forbids, posture_ids))
        lists["targets"].append(mv.targets)
        lists["accident"].append(mv.accident)
        lists["rung"].append(cameo.rung(code))
        lists["restrain"].append(mv.restrain)
        lists["shifts"].append([mv.shifts.get(k, NO_SHIFT) for k in issue_ids])
        lists["settles"].append(mv.settles)
    g = np.array(lists.pop("goldstein"), dtype=float)
    shifts = np.array(lists.pop("shifts"), dtype=float).reshape(len(ids), len(issue_ids))
    keep = ("labels", "cameo", "requires", "forbids", "targets", "sets", "clears")
    arrays = {k: np.array(v, dtype=float) for k, v in lists.items() if k not in keep}
    hostility = np.maximum(0.0, -g) / 10.0
    return Moves(
        ids=ids,
        labels=lists["labels"],
        cameo=lists["cameo"],
        goldstein=g,
        hostility=hostility,
        cooperation=np.maximum(0.0, g) / 10.0,
        sets=np.array(lists["sets"], dtype=int),
        clears=np.array(lists["clears"], dtype=int),
        requires=lists["requires"],
        forbids=lists["forbids"],
        targets=lists["targets"],
        signal=arrays.pop("display") * hostility,
        shifts=shifts,
        shifts_any=(shifts >= 0.0).any(axis=1).astype(float),
        **arrays,
    )


def _postures(scenario: Scenario) -> Postures:
    ids = list(scenario.postures)
    ps = [scenario.postures[p] for p in ids]
    return Postures(
        ids=ids,
        labels=[p.label for p in ps],
        pressure=np.array([p.pressure for p in ps]),
        cost=np.array([p.cost for p in ps]),
        contact=np.array([p.contact for p in ps]),
        buffer=np.array([p.buffer for p in ps]),
        deterrence=np.array([p.deterrence for p in ps]),
        blocks=np.array([p.blocks_resolution for p in ps]),
        max_days=np.array([p.max_days or 0 for p in ps]),
        pledge=np.array([p.pledge for p in ps]),
        talks=np.array([p.talks for p in ps]),
    )


def _options(scenario: Scenario, ids: list[str], moves: Moves, party: np.ndarray) -> list[Options]:
    result = []
    for i, actor_id in enumerate(ids):
        actor = scenario.actors[actor_id]
        repertoire = [
            m
            for m in scenario.roles[actor.role].moves + actor.moves
            if m not in actor.exclude_moves and m != "hold"
        ]
        rows = []
        for move_id in dict.fromkeys(repertoire):
            m = moves.index(move_id)
            if moves.accident[m] or moves.settles[m]:  # made by the model's processes, never chosen
                continue
            rule = moves.targets[m]
            for j, other in enumerate(ids):
                if j == i:
                    continue
                a = scenario.affinity(actor_id, other)
                ok = {
                    "opponent": a < ADVERSARY_BELOW and bool(party[j]),
                    "adversary": a < ADVERSARY_BELOW,
                    "ally": a > ALLY_ABOVE,
                    "party": bool(party[j]),
                    "any": True,
                    "self": False,
                }[rule]
                if ok:
                    rows.append((m, j))
        arr = np.array(rows, dtype=int).reshape(-1, 2)
        result.append(Options(actor=np.full(len(rows), i), move=arr[:, 0], target=arr[:, 1]))
    return result


def _mechanism_paths(scenario: Scenario) -> dict[str, float]:
    flat: dict[str, float] = {}
    for group, value in scenario.mechanisms.model_dump().items():
        if isinstance(value, dict):
            for key, v in value.items():
                flat[f"{group}.{key}"] = float(v)
        else:
            flat[group] = float(value)
    return flat


def compile_spec(scenario: Scenario, batch: Mapping[str, np.ndarray] | None = None) -> Spec:
    """Compile a validated scenario (and optional per-replicate values) to arrays."""
    batch = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in (batch or {}).items()}
    ids = list(scenario.actors)
    n = len(ids)
    known = {f"mechanisms.{k}" for k in _mechanism_paths(scenario)}
    known |= {
        f"actors.{a}.{attr}"
        for a in ids
        for attr in ("capability", "resolve", "risk_tolerance", "hawkishness")
    }
    known |= {f"affinities.{a}.{b}" for a, row in scenario.affinities.items() for b in row}
    known |= {f"actors.{k}.leverage.{i}" for k in ids for i in scenario.actors[k].leverage}
    known |= {f"roles.{r}.activity" for r in scenario.roles}
    for path in batch:
        if path not in known:
            raise ScenarioError(
                "not a numeric parameter that can vary per replicate",
                source=scenario.name,
                field=path,
            )

    def value(path: str, default: float) -> np.ndarray:
        return batch[path] if path in batch else np.array([default], dtype=float)

    def actor_attr(attr: str) -> np.ndarray:
        cols = [value(f"actors.{a}.{attr}", getattr(scenario.actors[a], attr)) for a in ids]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def matrix(entries: dict[tuple[int, int], np.ndarray], symmetric: bool) -> np.ndarray:
        width = max([len(v) for v in entries.values()] + [1])
        out = np.zeros((width, n, n))
        for (i, j), v in entries.items():
            out[:, i, j] = v
            if symmetric:
                out[:, j, i] = v
        return out

    aff = {}
    for a, row in scenario.affinities.items():
        for b, v in row.items():
            aff[(ids.index(a), ids.index(b))] = value(f"affinities.{a}.{b}", v)
    lev = {}
    for k in ids:
        for i, v in scenario.actors[k].leverage.items():
            lev[(ids.index(k), ids.index(i))] = value(f"actors.{k}.leverage.{i}", v)
    affinity = matrix(aff, symmetric=True)
    salience = np.maximum(0.0, -affinity) ** 2

    issue_ids = list(scenario.issues)
    positions = np.array(
        [[scenario.actors[a].positions.get(k, 0.0) for k in issue_ids] for a in ids], dtype=float
    ).reshape(n, len(issue_ids))
    issue_salience = np.array(
        [[scenario.actors[a].salience.get(k, 0.0) for k in issue_ids] for a in ids], dtype=float
    ).reshape(n, len(issue_ids))
    status_quo = np.array([scenario.issues[k].status_quo for k in issue_ids], dtype=float)
    principals = np.array([ids.index(a) for a in scenario.principals] or [-1, -1], dtype=np.int64)
    role_activity = np.stack(
        np.broadcast_arrays(
            *[
                value(
                    f"roles.{scenario.actors[a].role}.activity",
                    scenario.roles[scenario.actors[a].role].activity,
                )
                for a in ids
            ]
        ),
        axis=-1,
    )

    postures = _postures(scenario)
    moves = _moves(scenario, postures.ids, postures.contact, issue_ids)
    party = np.array([scenario.roles[scenario.actors[a].role].party for a in ids])
    start = []
    for i, a in enumerate(ids):
        for sp in scenario.actors[a].postures:
            start.append((i, postures.ids.index(sp.posture), ids.index(sp.target)))
    mech = {k: value(f"mechanisms.{k}", v) for k, v in _mechanism_paths(scenario).items()}
    params = np.stack(np.broadcast_arrays(*(mech[k] for k in PARAMS)), axis=1)
    return Spec(
        scenario=scenario,
        actor_ids=ids,
        names=[scenario.actors[a].name for a in ids],
        party=party,
        capability=actor_attr("capability"),
        resolve=actor_attr("resolve"),
        risk_tolerance=actor_attr("risk_tolerance"),
        hawkishness=actor_attr("hawkishness"),
        affinity=affinity,
        leverage=matrix(lev, symmetric=False),
        salience=salience,
        activity=role_activity,
        issue_ids=issue_ids,
        positions=positions,
        issue_salience=issue_salience,
        status_quo=status_quo,
        principals=principals,
        mech=mech,
        moves=moves,
        postures=postures,
        options=_options(scenario, ids, moves, party),
        start_postures=start,
        incident_move=moves.index("incident"),
        clash_move=moves.index("armed_clash"),
        hold_move=moves.index("hold"),
        settle_move=next((m for m in range(len(moves.ids)) if moves.settles[m]), -1),
        batch=batch,
        params=np.ascontiguousarray(params),
    )
