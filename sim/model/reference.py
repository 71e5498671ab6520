"""The reference implementation: the same model written the plain way a Mesa user would.

One replicate at a time, actors as `mesa.Agent`s deciding in ordinary Python,
state in lists, no arrays and no compilation. It reads like docs/model.md and
calls the same formulas (`mechanisms.py`, as plain Python) and the same
counter-based random draws (`rng.uniform_py`) as the compiled engine, so on the
same seed and replicate it makes the same choices and produces the same
trajectories. It is the oracle that keeps the fast engine honest, and the
baseline the benchmark compares it with: `run(..., engine="reference")`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import mesa
import numpy as np

from sim.model import mechanisms as mx
from sim.model.mechanisms import N_RUNGS, TERMS
from sim.model.rng import Purpose, stream_key, uniform_py
from sim.model.spec import (
    ACCIDENT,
    CHOSEN,
    CONTACT,
    DEMAND_MET,
    IMPLEMENTED,
    INCIDENT_BELOW,
    RELIEF_SLOTS,
    SCRIPTED,
    SETTLEMENT,
    Spec,
    compile_spec,
)
from sim.scenario.schema import Scenario

# the additive terms of stage 1's move rate, by the parameter that weighs each
RATE_PARTS = {"base": "activity.base", "arousal": "activity.arousal", "answering": "activity.response"}

# The formulas as plain Python functions (numba keeps the original as .py_func).
F = {
    name: getattr(mx, name).py_func
    for name in (
        *TERMS,
        "activity_rate",
        "prospect",
        "move_count",
        "commitment",
        "felt_distance",
        "hurt",
        "balance",
        "side_strength",
        "accept_probability",
        "no_deal_value",
        "believe",
        "doubt",
        "incident_risk",
        "gap",
        "demands_met",
        "answers",
        "repaid",
    )
}


def _total(values: list[float]) -> float:
    """A sum in order, as the compiled engine adds (Python's sum() compensates, so it may differ)."""
    total = 0.0
    for v in values:
        total += v
    return total


SLOTS = 1 + 3 * mx.MOST_MOVES  # uniforms per actor and day: how many moves, then rung, move, target of each


@dataclass
class World:
    """One replicate's state, in lists (see docs/model.md, section 2)."""

    tension: list[list[float]]
    grievance: list[list[float]]
    hostility: list[float]
    commitment: list[float]
    backing: list[list[float]]
    mediation: list[float]
    costs: list[float]
    belief: list[list[float]]
    ladder: list[list[float]]
    status_quo: list[float]
    reference: list[list[float]]
    held: list[list[bool]]
    target: list[list[int]]
    age: list[list[int]]
    attention: list[float]
    demand: list[list[float]]  # the holder's gap when it took up each posture (docs/model.md 7.5)
    unanswered: list[list[float]]  # [i][j]: the blows i has taken from j and not yet answered (7.3)
    clashed: bool = False


@dataclass
class Seen:
    """What every actor sees on a day, derived from the world (docs/model.md 7.1)."""

    contact: list[bool] = field(default_factory=list)
    pledge: list[bool] = field(default_factory=list)
    bonus: list[float] = field(default_factory=list)
    agreement: list[float] = field(default_factory=list)
    backing: list[float] = field(default_factory=list)
    crisis: list[float] = field(default_factory=list)
    exposure: list[float] = field(default_factory=list)
    hurt: list[float] = field(default_factory=list)
    dissatisfaction: list[float] = field(default_factory=list)  # with the prospect (7.1)
    at_stake: list[float] = field(default_factory=list)  # with the status quo: the value of no deal
    stake: list[float] = field(default_factory=list)
    strength: list[list[float]] = field(default_factory=list)
    risk: list[list[float]] = field(default_factory=list)
    pull: list[list[float]] = field(default_factory=list)
    drive: list[list[float]] = field(default_factory=list)
    offer: list[float] = field(default_factory=list)
    talks: bool = False
    in_force: bool = False
    world: float = 0.0


class ReferenceActor(mesa.Agent):
    """An actor that decides in stages (act?, rung, move, target) by logit rules, in plain Python."""

    def __init__(self, model: ReferenceModel, index: int, actor_id: str):
        super().__init__(model)
        self.index = index
        self.actor_id = actor_id

    def options(self) -> list[tuple[int, int]]:
        opts = self.model.spec.options[self.index]
        return [(int(m), int(t)) for m, t in zip(opts.move, opts.target, strict=True)]

    def allowed(self, move: int, target: int) -> bool:
        """A move's required postures stand, its forbidden ones do not, and so on (docs 2)."""
        w, mv, i = self.model.world, self.model.spec.moves, self.index
        if mv.sets[move] >= 0 and w.held[i][mv.sets[move]]:
            return False
        if mv.clears[move] >= 0 and w.target[i][mv.clears[move]] != target:
            return False
        for scope, posture in mv.requires[move]:
            if not self.model.stands(scope, posture, i, target):
                return False
        return all(not self.model.stands(scope, posture, i, target) for scope, posture in mv.forbids[move])

    def utility_terms(self, move: int, target: int) -> dict[str, float]:
        """The named terms of one option's utility (docs/model.md 7.1)."""
        model = self.model
        spec, w, s, p, i, t = model.spec, model.world, model.seen, model.p, self.index, target
        mv = spec.moves
        e, c = float(mv.hostility[move]), float(mv.cooperation[move])
        net = e - c
        material, cd = float(mv.material[move]), float(mv.contact_delta[move])
        cap, res = float(spec.capability[0, i]), float(spec.resolve[0, i])
        rt, hawk = float(spec.risk_tolerance[0, i]), float(spec.hawkishness[0, i])
        a_it = float(spec.affinity[0, i, t])
        party = float(spec.party[i])
        cost = float(mv.cost[move])
        if cost < 0.0:
            if mv.physical[move] > 0.0:  # a show of force with forces on alert: partly sunk
                sunk = p["disposition.sunk_cost"] * float(mv.sunk[move])
                cost = p["disposition.material_cost"] * (1.0 - sunk)
            else:
                cost = p["disposition.verbal_cost"]
        gain, keeps = 0.0, 0.0
        if mv.shifts_any[move] > 0.0:
            lam, chronic = p["issues.loss_aversion"], p["issues.chronic"]
            for k in range(len(spec.issue_ids)):
                to = float(mv.shifts[move, k])
                if to >= 0.0:
                    x, ref, q = float(spec.positions[i, k]), w.reference[i][k], w.status_quo[k]
                    gain += float(spec.issue_salience[i, k]) * (
                        F["felt_distance"](x, q, ref, lam, chronic)
                        - F["felt_distance"](x, to, ref, lam, chronic)
                    )
                    keeps += abs(q - s.offer[k]) - abs(to - s.offer[k])
        in_force = s.agreement[i] * (1.0 if s.in_force else 0.0)
        return {
            "disposition": F["disposition"](
                p["disposition.hawkishness"],
                hawk,
                net,
                cost,
                p["disposition.capability_discount"],
                cap,
                material,
            ),
            "issues": F["issues"](p["issues.weight"], s.drive[i][t], net, gain),
            "reciprocity": F["reciprocity"](
                p["reciprocity.weight"],
                w.grievance[i][t],
                p["reciprocity.fatigue"],
                w.hostility[i],
                net,
                p["reciprocity.mirror"],
                cd,
                1.0 if s.contact[t] else 0.0,
                p["retaliation.weight"],
                w.unanswered[i][t],
                F["answers"](material, float(mv.rung[move])),
            ),
            "deterrence": F["deterrence"](
                p["deterrence.weight"],
                rt,
                F["balance"](s.strength[i][i], s.strength[i][t]),
                e,
                material,
                p["deterrence.verbal_share"],
            ),
            "audience_costs": F["audience_costs"](
                p["audience_costs.weight"],
                w.commitment[i],
                float(mv.concession[move]),
                s.agreement[i],
                float(mv.signal[move]),
                res,
                1.0 - w.belief[t][i],
                s.dissatisfaction[i] + s.crisis[i],
            ),
            "alliance": F["alliance"](
                p["alliance.weight"],
                s.backing[i],
                s.pull[i][t],
                e,
                1.0 if a_it < 0.0 else 0.0,
                float(mv.support[move]),
                max(a_it, 0.0),
                res,
                cap,
                s.crisis[t],
                float(mv.restrain[move]),
                p["alliance.restraint"],
                rt,
            ),
            "mediation": F["mediation"](
                p["mediation.weight"],
                w.mediation[i],
                c,
                e,
                party,
                p["mediation.drive"],
                res,
                float(spec.leverage[0, i, t]),
                s.crisis[t],
                float(mv.mediation[move]),
            ),
            "agreement": F["agreement"](p["mediation.implementation"], in_force, c, e, party, keeps),
            "escalation": F["escalation"](p["escalation.jump_cost"], float(mv.rung[move]), w.ladder[i][t]),
            "accidents": F["accidents"](p["accidents.weight"], rt, s.exposure[i], cd),
        }

    def utility(self, move: int, target: int) -> float:
        total = 0.0
        for value in self.utility_terms(move, target).values():
            total += value
        return total

    def act_probability(self) -> float:
        """The chance of making at least one reportable move today (stage 1, docs/model.md 7.2)."""
        return -math.expm1(-self.activity_rate())

    def activity_rate(self, part: str | None = None) -> float:
        """Stage 1: the expected number of reportable moves today (docs/model.md 7.2).

        With `part` (one of RATE_PARTS), that term of the rate alone, the others' weights at zero: at
        rest, roused by dissatisfaction and crisis, answering the moves directed at the actor. The
        three add up to the rate (`sim explain` shows them).
        """
        s, p, i = self.model.seen, self.model.p, self.index
        weights = {k: (p[path] if part in (None, k) else 0.0) for k, path in RATE_PARTS.items()}
        return F["activity_rate"](
            float(self.model.spec.activity[0, i]),
            weights["base"],
            weights["arousal"],
            s.stake[i],
            s.dissatisfaction[i]
            + p["activity.crisis"] * s.crisis[i]
            + p["activity.crisis"] * s.world
            + p["retaliation.arousal"] * _total(self.model.world.unanswered[i]),
            float(self.model.spec.capability[0, i]),
            p["activity.prominence"],
            weights["answering"],
            self.model.world.attention[i],
        )

    def _stages(self) -> tuple[list[tuple[int, int]], list[float | None], dict[int, float], list]:
        """Allowed options' utilities, each rung's value (its best option), and the moves in order."""
        options = self.options()
        utility: list[float | None] = []
        rung_value: dict[int, float] = {}
        rungs = self.model.spec.moves.rung
        for move, target in options:
            if self.allowed(move, target):
                u = self.utility(move, target)
                utility.append(u)
                g = int(rungs[move])
                if g not in rung_value or u > rung_value[g]:
                    rung_value[g] = u
            else:
                utility.append(None)
        groups = []  # (move, first option, end) in the option table's order
        start = 0
        while start < len(options):
            end = start
            while end < len(options) and options[end][0] == options[start][0]:
                end += 1
            groups.append((options[start][0], start, end))
            start = end
        return options, utility, rung_value, groups

    @staticmethod
    def _logit(values: list[float | None], precision: float) -> list[float]:
        """Logit weights relative to the best (0 for None), as the engine computes them."""
        best = max(v for v in values if v is not None)
        return [0.0 if v is None else math.exp(precision * (v - best)) for v in values]

    @staticmethod
    def _draw(weights: list[float], allowed: list[bool], u: float) -> int:
        total = 0.0
        for weight, ok in zip(weights, allowed, strict=True):
            if ok:
                total += weight
        threshold, acc, pick = u * total, 0.0, -1
        for k, (weight, ok) in enumerate(zip(weights, allowed, strict=True)):
            if ok:
                acc += weight
                pick = k
                if acc > threshold:
                    break
        return pick

    def _move_values(self, options, utility, groups, rung: int) -> list[float | None]:
        rungs = self.model.spec.moves.rung
        values = []
        for move, lo, hi in groups:
            best = None
            for o in range(lo, hi):
                if utility[o] is not None and (best is None or utility[o] > best):
                    best = utility[o]
            values.append(best if int(rungs[move]) == rung else None)
        return values

    def choice_probabilities(self) -> list[tuple[int, int, float]]:
        """(move, target, probability) of every option as the day's first move: P(at least one move)
        P(rung) P(move | rung) P(target | move); later moves of the day leave out the moves made."""
        options, utility, rung_value, groups = self._stages()
        if not rung_value:
            return [(m, t, 0.0) for m, t in options]
        prec = self.model.p["rationality"]
        act = self.act_probability()
        rung_list = [rung_value.get(g) for g in range(N_RUNGS)]
        rung_w = self._logit(rung_list, prec)
        rung_total = sum(rung_w)
        out = {}
        for g in range(N_RUNGS):
            if rung_list[g] is None:
                continue
            values = self._move_values(options, utility, groups, g)
            mw = self._logit(values, prec)
            m_total = sum(mw)
            for (_, lo, hi), weight, value in zip(groups, mw, values, strict=True):
                if value is None:
                    continue
                tw = self._logit(utility[lo:hi], prec)
                t_total = sum(tw)
                for o in range(lo, hi):
                    if utility[o] is not None:
                        out[o] = act * rung_w[g] / rung_total * weight / m_total * tw[o - lo] / t_total
        return [(m, t, out.get(o, 0.0)) for o, (m, t) in enumerate(options)]

    def decide(self) -> list[tuple[int, int]]:
        """Today's (move, target)s: how many, then for each the rung, move and target, each a draw from its
        own slot of the stream; a move is made at most once a day."""
        model = self.model
        key = model.keys[Purpose.CHOICE]
        base = (model.replicate * model.spec.n + self.index) * SLOTS
        most = min(model.p["activity.max_moves"], mx.MOST_MOVES)
        count = F["move_count"](self.activity_rate(), most, uniform_py(key, base))
        if count == 0:
            return []
        options, utility, _, groups = self._stages()
        prec = model.p["rationality"]
        rungs = model.spec.moves.rung
        used: set[int] = set()
        chosen = []
        for a in range(count):
            rung_value: dict[int, float] = {}
            for k, (move, lo, hi) in enumerate(groups):
                if k in used:
                    continue
                for o in range(lo, hi):
                    u = utility[o]
                    g = int(rungs[move])
                    if u is not None and (g not in rung_value or u > rung_value[g]):
                        rung_value[g] = u
            if not rung_value:
                break
            slot = base + 1 + 3 * a
            rung_list = [rung_value.get(g) for g in range(N_RUNGS)]
            g = self._draw(
                self._logit(rung_list, prec), [v is not None for v in rung_list], uniform_py(key, slot)
            )
            values = self._move_values(options, utility, groups, g)
            values = [None if k in used else v for k, v in enumerate(values)]
            allowed = [v is not None for v in values]
            k = self._draw(self._logit(values, prec), allowed, uniform_py(key, slot + 1))
            used.add(k)
            _, lo, hi = groups[k]
            part = utility[lo:hi]
            allowed = [v is not None for v in part]
            o = lo + self._draw(self._logit(part, prec), allowed, uniform_py(key, slot + 2))
            chosen.append(options[o])
        return chosen


class ReferenceModel(mesa.Model):
    """One replicate of a scenario, stepped day by day in plain Python."""

    def __init__(
        self, scenario: Scenario, *, replicate: int = 0, seed: int | None = None, days: int | None = None
    ):
        seed = scenario.seed if seed is None else int(seed)
        super().__init__(rng=np.random.Generator(np.random.Philox(seed)))
        self.crisis, self.seed, self.replicate = scenario, seed, int(replicate)
        self.days = scenario.days if days is None else int(days)
        self._compile(scenario)
        spec = self.spec
        n, k, ni = spec.n, len(spec.postures.ids), len(spec.issue_ids)
        self.world = World(
            tension=[[0.0] * n for _ in range(n)],
            grievance=[[0.0] * n for _ in range(n)],
            hostility=[0.0] * n,
            commitment=[0.0] * n,
            backing=[[0.0] * n for _ in range(n)],
            mediation=[0.0] * n,
            costs=[0.0] * n,
            belief=[[float(spec.resolve[0, i]) if i == j else 0.5 for j in range(n)] for i in range(n)],
            ladder=[[0.0] * n for _ in range(n)],
            status_quo=[float(v) for v in spec.status_quo],
            reference=[[float(v) for v in spec.status_quo] for _ in range(n)],
            held=[[False] * k for _ in range(n)],
            target=[[0] * k for _ in range(n)],
            attention=[0.0] * n,
            age=[[0] * k for _ in range(n)],
            demand=[[0.0] * k for _ in range(n)],
            unanswered=[[0.0] * n for _ in range(n)],
        )
        assert ni == len(self.world.status_quo)
        for actor, posture, target in spec.start_postures:
            self.world.held[actor][posture] = True
            self.world.target[actor][posture] = target
        self.actors = [ReferenceActor(self, i, a) for i, a in enumerate(spec.actor_ids)]
        self.scripted: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.changes: dict[int, list[dict]] = defaultdict(list)
        ids = spec.actor_ids
        for event in scenario.events:
            if event.set is not None:
                self.changes[event.day].append(event.set)
            else:
                target = event.target or event.actor
                self.scripted[event.day].append(
                    (ids.index(event.actor), spec.moves.index(event.move), ids.index(target))
                )
        self.day = 0
        self.tension: list[float] = []
        self.dyads: list[list[float]] = []
        self.posture: list[list[float]] = []
        self.settled: list[bool] = []
        self.events: list[tuple[int, int, int, int, int]] = []  # day, actor, target, move, kind
        self.drivers: list[list[list[list[float]]]] | None = None  # see track_drivers()
        self.driver_log: list[np.ndarray] = []
        self._replay_history(scenario)

    def _replay_history(self, scenario: Scenario) -> None:
        """The run-up (`history:`): each day before day 0, only its moves happen (if their postures
        allow, as the loader has checked), then the day takes effect; nothing is recorded.

        Who put the tension there is kept (`history_drivers`), so that `track_drivers` starts from it.
        """
        n, ids = self.spec.n, self.spec.actor_ids
        self.history_drivers = [[[0.0] * n for _ in range(n)] for _ in range(n + 1)]
        if not scenario.history:
            return
        past: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for event in scenario.history:
            target = event.target or event.actor
            past[event.day].append(
                (ids.index(event.actor), self.spec.moves.index(event.move), ids.index(target))
            )
        self.drivers = self.history_drivers
        for day in range(min(past), 0):
            self.day = day
            self.seen = self.see()
            todays = [(a, t, m, SCRIPTED) for a, m, t in past.get(day, []) if self.actors[a].allowed(m, t)]
            self.take_effect(todays)
        self.drivers = None
        self.world.clashed = False
        self.day = 0
        self.tension, self.dyads, self.posture, self.settled, self.driver_log = [], [], [], [], []

    def _compile(self, scenario: Scenario) -> None:
        self.spec: Spec = compile_spec(scenario)
        self.p = {name: float(v[0]) for name, v in self.spec.mech.items()}

    def stands(self, scope: int, posture: int, actor: int, target: int) -> bool:
        """Whether a 'self:' (0), 'target:' (1) or 'any:' (2) posture condition holds."""
        w, ps = self.world, self.spec.postures
        if posture == CONTACT:

            def in_contact(i: int) -> bool:
                return any(w.held[i][k] and ps.contact[k] for k in range(len(ps.ids)))

            if scope == 2:
                return any(in_contact(i) for i in range(self.spec.n))
            return in_contact(actor if scope == 0 else target)
        if scope == 2:
            return any(w.held[i][posture] for i in range(self.spec.n))
        return w.held[actor if scope == 0 else target][posture]

    def see(self) -> Seen:
        """Derive the day's situation from the world, once, for every actor (docs/model.md 7.1)."""
        spec, w, p, n = self.spec, self.world, self.p, self.spec.n
        ps, aff, cap, res = spec.postures, spec.affinity[0], spec.capability[0], spec.resolve[0]
        x, sal = spec.positions, spec.issue_salience
        lam, chronic = p["issues.loss_aversion"], p["issues.chronic"]
        s = Seen()
        buffer = 0.0
        for i in range(n):
            s.contact.append(False)
            s.pledge.append(False)
            s.bonus.append(0.0)
            for k in range(len(ps.ids)):
                if w.held[i][k]:
                    s.contact[i] = s.contact[i] or bool(ps.contact[k])
                    buffer = max(buffer, float(ps.buffer[k]))
                    s.pledge[i] = s.pledge[i] or bool(ps.pledge[k])
                    s.talks = s.talks or bool(ps.talks[k])
                    s.bonus[i] += float(ps.deterrence[k])
        a, b = (int(v) for v in spec.principals)
        s.in_force = a >= 0 and s.pledge[a] and s.pledge[b]
        signed = [1.0 if s.in_force and i in (a, b) else 0.0 for i in range(n)]
        for i in range(n):
            agreement = signed[i]
            for k in range(n):
                agreement = max(agreement, max(float(aff[i, k]), 0.0) * signed[k])
            s.agreement.append(agreement)
        for i in range(n):
            row = []
            for j in range(n):
                total = 0.0
                for k in range(n):
                    side = 1.0 if k == j else 0.0 if k == i else max(float(aff[k, j]), 0.0)
                    if side > 0.0 and k != j:
                        side *= F["commitment"](w.backing[k][j])
                    if side > 0.0:
                        total += side * F["side_strength"](float(cap[k]), s.bonus[k], w.belief[i][k])
                row.append(total)
            s.strength.append(row)
        for j in range(n):
            total = 0.0
            for k in range(n):
                ally = max(float(aff[k, j]), 0.0) * float(cap[k]) * float(res[k])
                total += ally * F["commitment"](w.backing[k][j])
            s.backing.append(total)
        for i in range(n):
            worst = 0.0
            for j in range(n):
                if aff[i, j] < 0.0 and w.tension[i][j] / 100.0 > worst:
                    worst = w.tension[i][j] / 100.0
            s.crisis.append(worst)
            s.world = max(s.world, worst)
        for i in range(n):
            row = [
                F["incident_risk"](w.tension[i][j], buffer)
                if i != j and s.contact[i] and s.contact[j] and aff[i, j] < INCIDENT_BELOW
                else 0.0
                for j in range(n)
            ]
            total = 0.0
            for value in row:
                total += value
            s.risk.append(row)
            s.exposure.append(total)
        ni = len(spec.issue_ids)
        for k in range(ni):
            num, den = 0.0, 0.0
            for i in range(n):
                weight = float(cap[i]) * float(sal[i, k])
                num += weight * float(x[i, k])
                den += weight
            s.offer.append(num / den if den > 0.0 else w.status_quo[k])
        bargaining = s.talks or s.in_force
        weight = p["bargaining.prospect"]
        look = [F["prospect"](w.status_quo[k], s.offer[k], weight, bargaining) for k in range(ni)]
        for i in range(n):
            s.hurt.append(F["hurt"](w.costs[i], p["bargaining.hurt_scale"]))
            ref = w.reference[i]
            felt_q = [
                F["felt_distance"](float(x[i, k]), w.status_quo[k], ref[k], lam, chronic) for k in range(ni)
            ]
            # the prospect is the status quo unless talks stand or a deal is in force
            felt = (
                [F["felt_distance"](float(x[i, k]), look[k], ref[k], lam, chronic) for k in range(ni)]
                if bargaining
                else felt_q
            )
            d, d_q, stake = 0.0, 0.0, 0.0
            for k in range(ni):
                d += float(sal[i, k]) * felt[k]
                d_q += float(sal[i, k]) * felt_q[k]
                stake += float(sal[i, k])
            s.dissatisfaction.append(d)
            s.at_stake.append(d_q)
            s.stake.append(stake)
            drive, pull = [], []
            for t in range(n):
                total = 0.0
                for k in range(ni):
                    total += float(sal[i, k]) * felt[k] * abs(float(x[i, k]) - float(x[t, k]))
                drive.append(total)
                total = 0.0
                for k in range(n):
                    total += max(float(aff[i, k]), 0.0) * w.tension[k][t]
                pull.append(total / 100.0)
            s.drive.append(drive)
            s.pull.append(pull)
        return s

    @property
    def keys(self) -> dict[Purpose, int]:
        return {purpose: stream_key(self.seed, self.day, purpose) for purpose in Purpose}

    def acceptance(self) -> dict[int, float]:
        """Each principal's chance of accepting the offer today (docs/model.md 7.5); empty without talks."""
        spec, s, w, p = self.spec, self.seen, self.world, self.p
        a, b = (int(v) for v in spec.principals)
        if not s.talks or s.in_force or a < 0 or spec.settle_move < 0:
            return {}
        lam, chronic = p["issues.loss_aversion"], p["issues.chronic"]
        x, sal = spec.positions, spec.issue_salience
        out = {}
        for i, j in ((a, b), (b, a)):
            deal, lose = 0.0, 0.0
            for k in range(len(spec.issue_ids)):
                deal -= float(sal[i, k]) * F["felt_distance"](
                    float(x[i, k]), s.offer[k], w.reference[i][k], lam, chronic
                )
                lose -= float(sal[i, k]) * F["felt_distance"](
                    float(x[i, k]), float(x[j, k]), w.reference[i][k], lam, chronic
                )
            win = 1.0 - F["balance"](s.strength[i][i], s.strength[i][j])
            fight = F["no_deal_value"](
                -s.at_stake[i], win, lose, s.crisis[i], p["bargaining.cost_weight"], s.hurt[i]
            )
            out[i] = F["accept_probability"](
                p["bargaining.precision"],
                deal,
                fight,
                w.mediation[i],
                p["mediation.weight"],
                w.commitment[i],
                p["audience_costs.weight"],
                s.crisis[i],
            )
        return out

    def bargain(self) -> list[tuple[int, int, int, int]]:
        """While talks stand, both principals sign if each accepts the offer (one draw each)."""
        chances = self.acceptance()
        if not chances:
            return []
        a, b = (int(v) for v in self.spec.principals)
        key = self.keys[Purpose.BARGAIN]
        accepted = sum(uniform_py(key, self.replicate * 2 + q) < chances[i] for q, i in enumerate((a, b)))
        if accepted < 2:
            return []
        settle = self.spec.settle_move
        return [(a, b, settle, SETTLEMENT), (b, a, settle, SETTLEMENT)]

    def gap(self, i: int) -> float:
        """How far the status quo is from actor i's ideal points, salience-weighted, as a share of its
        stake (0-1, plain distances: no reference point)."""
        return float(F["gap"](self.spec.positions[i], self.spec.issue_salience[i], self.world.status_quo))

    def ending_chances(self, i: int) -> list[tuple[int, int, int, float, int]]:
        """The blocking postures actor i may end today before it chooses anything: (posture, target,
        ending move, daily chance, IMPLEMENTED or DEMAND_MET). Under a deal in force its parties (and
        allies, by affinity) carry it out; the holder of a coercive posture (one whose ending concedes
        nothing) lifts it as far as its demand has been met (docs/model.md 7.5)."""
        s, w, spec, p = self.seen, self.world, self.spec, self.p
        ps, mv = spec.postures, spec.moves
        bound = s.agreement[i] if s.in_force else 0.0
        gap = self.gap(i)
        agent = self.actors[i]
        out = []
        for k in range(len(ps.ids)):
            if not (w.held[i][k] and ps.blocks[k]):
                continue
            chance, kind = bound, IMPLEMENTED
            met = p["bargaining.demands_met"] * F["demands_met"](gap, w.demand[i][k])
            if met > chance:
                chance, kind = met, DEMAND_MET
            if chance <= 0.0:
                continue
            t = w.target[i][k]
            ends = (m for m, target in agent.options() if mv.clears[m] == k and target == t)
            ending = next((m for m in ends if agent.allowed(m, t)), None)
            if ending is None:
                continue
            if kind == DEMAND_MET and mv.shifts_any[ending] > 0.0:  # ending it would concede
                chance, kind = bound, IMPLEMENTED
                if chance <= 0.0:
                    continue
            out.append((k, t, ending, p["bargaining.implementation"] * chance, kind))
        return out

    def implement(self, scripted: set[int]) -> list[tuple[int, int, int, int]]:
        """Each actor's postures ended before the day's choices (`ending_chances`), each by its own draw
        from the bargaining stream: under a deal its own slots are free; on other days from RELIEF_SLOTS
        on. An actor with a scripted move that day makes that move instead (it could be the same one)."""
        n, nk = self.spec.n, len(self.spec.postures.ids)
        key = self.keys[Purpose.BARGAIN]
        offset = 0 if self.seen.in_force else RELIEF_SLOTS
        out = []
        for i in range(n):
            if i in scripted:
                continue
            for k, t, ending, chance, kind in self.ending_chances(i):
                if uniform_py(key, (self.replicate * n + i) * nk + k + offset) < chance:
                    out.append((i, t, ending, kind))
        return out

    def step(self) -> None:
        """One day: bargaining, every actor decides on the same situation, then all moves take effect."""
        for changes in self.changes.get(self.day, []):
            from sim.scenario.loader import apply_changes

            self.crisis = apply_changes(self.crisis, changes)
            self._compile(self.crisis)
        self.seen = self.see()
        scripted_actors = {a for a, _, _ in self.scripted.get(self.day, [])}
        todays: list[tuple[int, int, int, int]] = [(a, t, m, kind) for a, t, m, kind in self.bargain()]
        carried = self.implement(scripted_actors)
        todays += carried
        busy = scripted_actors | {a for a, _, _, _ in carried}  # implementing takes the day's initiative
        for agent in self.actors:
            if agent.index in busy:
                continue
            for move, target in agent.decide():
                todays.append((agent.index, target, move, CHOSEN))
        for actor, move, target in self.scripted.get(self.day, []):
            if self.actors[actor].allowed(move, target):
                todays.append((actor, target, move, SCRIPTED))
        todays += self.accidents()
        self.take_effect(todays)
        self.events += [(self.day, a, t, m, kind) for a, t, m, kind in todays]
        self.day += 1
        if self.day >= self.days:
            self.running = False

    def accidents(self) -> list[tuple[int, int, int, int]]:
        """Incidents between forces in contact that are not allies (docs/model.md 7.4)."""
        n, p, key = self.spec.n, self.p, self.keys[Purpose.ACCIDENT]
        out, pair = [], 0
        for i in range(n):
            for j in range(i + 1, n):
                risk = self.seen.risk[i][j]
                if risk > 0.0:
                    base = (self.replicate * (n * (n - 1) // 2) + pair) * 3
                    if uniform_py(key, base) < -math.expm1(-p["accidents.hazard"] * risk):
                        first = uniform_py(key, base + 1) < 0.5
                        level = self.world.tension[i][j] / 100.0
                        clash = uniform_py(key, base + 2) < p["accidents.escalation"] * level * level
                        move = self.spec.clash_move if clash else self.spec.incident_move
                        out.append((i, j, move, ACCIDENT) if first else (j, i, move, ACCIDENT))
                pair += 1
        return out

    def track_drivers(self) -> None:
        """Also split every dyad's tension by whose moves and postures put it there.

        drivers[a][i][j] is the part of tension(i, j) that actor a's events and
        standing postures contributed (in the history too), decayed like the tension itself, so the
        parts add up exactly to the tension. Each day's parts go to driver_log, (N + 1, pairs).
        Where clipping to 0..100 cut the tension, the parts on the overshooting
        side shrink in proportion; only what they cannot absorb is booked to the
        extra row.
        """
        self.drivers = [[list(row) for row in layer] for layer in self.history_drivers]

    def _drive(self, actor: int, i: int, j: int, amount: float) -> None:
        if self.drivers is not None:
            self.drivers[actor][i][j] += amount
            self.drivers[actor][j][i] += amount

    def _settle_drivers(self, decay: float) -> None:
        """Log today's parts; where the tension was clipped, shrink the parts that overshot."""
        if self.drivers is None:
            return
        n, t = self.spec.n, self.world.tension
        parts = []
        for i, j in self.spec.pairs():
            layer = [self.drivers[a][i][j] for a in range(n + 1)]
            excess = sum(layer) - t[i][j]  # what clipping to 0..100 removed
            same_sign = [v for v in layer if v * excess > 0]
            pool = sum(same_sign)
            if excess != 0.0 and abs(pool) >= abs(excess):
                factor = (pool - excess) / pool  # the overshooting side gives up the excess pro rata
                layer = [v * factor if v * excess > 0 else v for v in layer]
            else:
                layer[n] -= excess  # nothing to shrink: book it as clipping
            for a in range(n + 1):
                self.drivers[a][i][j] = self.drivers[a][j][i] = layer[a]
            parts.append(layer)
        self.driver_log.append(np.array(parts).T)
        for layer in self.drivers:  # tomorrow's decay, applied now so the log shows today's parts
            for row in layer:
                for k in range(n):
                    row[k] *= decay

    def _aggrieve(self, src: int, tgt: int, amount: float) -> None:
        """The target's grievance against the source grows, and its allies' in proportion to affinity."""
        w, aff = self.world, self.spec.affinity[0]
        w.grievance[tgt][src] += amount
        for k in range(self.spec.n):
            w.grievance[k][src] += max(float(aff[k, tgt]), 0.0) * amount

    def _apply(self, src: int, tgt: int, m: int) -> None:
        """One event's effects on stocks, beliefs, the ladder, the status quo and postures (docs 7.3)."""
        spec, w, p, s, n = self.spec, self.world, self.p, self.seen, self.spec.n
        mv, ps, aff = spec.moves, spec.postures, spec.affinity[0]
        g = float(mv.goldstein[m])
        if g < 0.0:  # an answer pays off the blows the mover has not answered; a blow asks for one
            paid = F["repaid"](w.unanswered[src][tgt], -g / 10.0, float(mv.material[m]), float(mv.rung[m]))
            w.unanswered[src][tgt] -= paid
            if mv.rung[m] >= mx.BLOW_RUNG:  # what an answer repays is no new blow: only the excess
                w.unanswered[tgt][src] += -g / 10.0 - paid
        w.tension[src][tgt] += -g * p["tension.event_scale"]
        w.tension[tgt][src] += -g * p["tension.event_scale"]
        self._drive(src, src, tgt, -g * p["tension.event_scale"])
        self._aggrieve(src, tgt, -g / 10.0)
        w.attention[tgt] += abs(g) / 10.0
        w.hostility[src] += float(mv.hostility[m])
        w.commitment[src] += float(mv.hostility[m]) * float(mv.commitment[m])
        w.backing[src][tgt] += float(mv.support[m]) - float(mv.restrain[m])
        leverage = float(spec.leverage[0, src, tgt])
        if mv.restrain[m] > 0.0:
            leverage = max(leverage, max(float(aff[src, tgt]), 0.0) * float(spec.capability[0, src]))
        w.mediation[tgt] += float(mv.mediation[m]) * leverage * (1.0 + float(aff[src, tgt])) / 2.0
        rung = float(mv.rung[m])
        if g < 0.0 and rung >= 1.0:  # the mover's rung; the target's by the ladder's shared part
            w.ladder[src][tgt] = max(w.ladder[src][tgt], rung)
            w.ladder[tgt][src] = max(w.ladder[tgt][src], p["escalation.shared"] * rung)
        if mv.signal[m] > 0.0:
            for o in range(n):
                if o != src:
                    w.belief[o][src] = F["believe"](
                        w.belief[o][src], p["audience_costs.signal"], float(mv.signal[m])
                    )
        if mv.concession[m] > 0.0:
            for o in range(n):
                if o != src:
                    w.belief[o][src] = F["doubt"](w.belief[o][src], p["audience_costs.signal"])
        if mv.shifts_any[m] > 0.0:
            breaks = False
            for k in range(len(spec.issue_ids)):
                to = float(mv.shifts[m, k])
                if to >= 0.0:
                    if s.in_force and abs(to - s.offer[k]) > abs(w.status_quo[k] - s.offer[k]) + 1e-12:
                        breaks = True
                    w.status_quo[k] = to
            if breaks:  # a party that moves the status quo away from the terms reneges on the deal
                for k in range(len(ps.ids)):
                    if ps.pledge[k]:
                        w.held[src][k] = False
        if m == spec.settle_move:  # the deal ends the talks
            for i in range(n):
                for k in range(len(ps.ids)):
                    if ps.talks[k]:
                        w.held[i][k] = False
        if mv.sets[m] >= 0:
            w.held[src][mv.sets[m]] = True
            w.target[src][mv.sets[m]] = tgt
            w.age[src][mv.sets[m]] = 0
            w.demand[src][mv.sets[m]] = self.gap(src)  # what the holder presses for
        if mv.clears[m] >= 0:
            w.held[src][mv.clears[m]] = False
        if mv.clash[m] > 0.0:
            w.clashed = True
            casualties = p["accidents.casualties"]
            self._aggrieve(src, tgt, casualties)
            self._aggrieve(tgt, src, casualties)
            w.commitment[src] += casualties / 2.0
            w.commitment[tgt] += casualties / 2.0
            w.hostility[src] += casualties * p["accidents.weariness"]  # war weariness
            w.hostility[tgt] += casualties * p["accidents.weariness"]

    def take_effect(self, todays: list[tuple[int, int, int, int]]) -> None:
        """Stocks decay, the day's events apply, standing postures press, habits form (docs/model.md 7.3)."""
        spec, w, p, n = self.spec, self.world, self.p, self.spec.n
        ps, aff = spec.postures, spec.affinity[0]
        memory = 1.0 - p["reciprocity.memory"]
        for i in range(n):
            w.attention[i] *= 1.0 - p["activity.memory"]
            w.hostility[i] *= memory
            w.commitment[i] *= 1.0 - p["audience_costs.decay"]
            w.mediation[i] *= 1.0 - p["mediation.decay"]
            w.costs[i] *= 1.0 - p["bargaining.recovery"]
            for j in range(n):
                w.tension[i][j] *= 1.0 - p["tension.decay"]
                w.grievance[i][j] *= memory
                w.backing[i][j] *= 1.0 - p["alliance.memory"]
                w.ladder[i][j] *= 1.0 - p["escalation.memory"]
                w.unanswered[i][j] *= 1.0 - p["issues.adaptation"]  # one gets used to it as to any loss
        for src, tgt, m, _ in todays:
            self._apply(src, tgt, m)
        for i in range(n):
            for k in range(len(ps.ids)):
                if w.held[i][k]:
                    t, pressure = w.target[i][k], float(ps.pressure[k])
                    w.tension[i][t] += pressure * p["tension.posture_scale"]
                    w.tension[t][i] += pressure * p["tension.posture_scale"]
                    self._drive(i, i, t, pressure * p["tension.posture_scale"])
                    self._aggrieve(i, t, pressure / 10.0)
                    w.hostility[i] += max(pressure, 0.0) / 10.0
                    w.costs[i] += float(ps.cost[k])
        for i in range(n):
            worst = 0.0
            for j in range(n):
                if aff[i, j] < 0.0 and w.tension[i][j] > worst:
                    worst = w.tension[i][j]
            w.costs[i] += worst / 100.0
            for k in range(len(spec.issue_ids)):
                w.reference[i][k] += p["issues.adaptation"] * (w.status_quo[k] - w.reference[i][k])
        for i in range(n):
            for j in range(n):
                w.tension[i][j] = min(100.0, max(0.0, w.tension[i][j]))
        self._settle_drivers(1.0 - p["tension.decay"])
        blocking, levels = False, []
        for i in range(n):
            level = 0.0
            for k in range(len(ps.ids)):
                if w.held[i][k]:
                    w.age[i][k] += 1
                    if ps.max_days[k] > 0 and w.age[i][k] >= ps.max_days[k]:
                        w.held[i][k] = False
                if w.held[i][k]:
                    level += max(float(ps.pressure[k]), 0.0)
                    blocking = blocking or bool(ps.blocks[k])
            levels.append(level)
        dyads, num, den = [], 0.0, 0.0
        for i, j in spec.pairs():
            dyads.append(w.tension[i][j])
            num += w.tension[i][j] * float(spec.salience[0, i, j])
            den += float(spec.salience[0, i, j])
        if den == 0.0:
            num = 0.0
            for value in dyads:
                num += value
            den = float(len(dyads))
        self.tension.append(num / den)
        self.dyads.append(dyads)
        self.posture.append(levels)
        self.settled.append(not blocking and num / den < p["outcome.resolution_threshold"])
