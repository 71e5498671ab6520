"""The reference implementation: the same model written the plain way a Mesa user would.

One replicate at a time, actors as `mesa.Agent`s deciding in ordinary Python,
state in lists, no arrays and no compilation. It reads like docs/model.md and
calls the same formulas (`sim/mechanisms.py`, as plain Python) and the same
counter-based random draws (`sim.model.rng.uniform_py`) as the compiled engine, so
on the same seed and replicate it makes the same choices and produces the same
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
from sim.model.mechanisms import TERMS
from sim.model.rng import Purpose, stream_key, uniform_py
from sim.model.spec import CONTACT, Spec, compile_spec
from sim.scenario.schema import Scenario

# The formulas as plain Python functions (numba keeps the original as .py_func).
F = {name: getattr(mx, name).py_func for name in (*TERMS, "hurt", "ripe", "incident_risk")}
CHOSEN, SCRIPTED, ACCIDENT = 0, 1, 2


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
    held: list[list[bool]]
    target: list[list[int]]
    age: list[list[int]]
    clashed: bool = False


@dataclass
class Seen:
    """What every actor sees on a day, derived from the world (docs/model.md 7.1)."""

    contact: list[bool] = field(default_factory=list)
    deterrent: list[float] = field(default_factory=list)
    backing: list[float] = field(default_factory=list)
    crisis: list[float] = field(default_factory=list)
    agreement: list[float] = field(default_factory=list)
    way_out: list[float] = field(default_factory=list)
    exposure: list[float] = field(default_factory=list)
    hurt: list[float] = field(default_factory=list)
    risk: list[list[float]] = field(default_factory=list)
    pull: list[list[float]] = field(default_factory=list)


class ReferenceActor(mesa.Agent):
    """An actor that scores its options and picks one by the logit rule, in plain Python."""

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
        """The eight named terms of one option's utility."""
        model = self.model
        spec, w, s, p, i, t = model.spec, model.world, model.seen, model.p, self.index, target
        mv = spec.moves
        e, c = float(mv.hostility[move]), float(mv.cooperation[move])
        net = e - c
        material, cd = float(mv.material[move]), float(mv.contact_delta[move])
        cap, res = float(spec.capability[0, i]), float(spec.resolve[0, i])
        rt, hawk = float(spec.risk_tolerance[0, i]), float(spec.hawkishness[0, i])
        a_it = float(spec.affinity[0, i, t])
        ripe_it = 0.0
        if mv.settlement[move] > 0.0:
            ripe_it = F["ripe"](s.hurt[i], s.hurt[t], p["ripeness.threshold"], p["ripeness.width"])
        return {
            "disposition": F["disposition"](
                p["disposition.hawkishness"],
                hawk,
                net,
                float(mv.cost[move]),
                p["disposition.capability_discount"],
                cap,
                material,
            ),
            "reciprocity": F["reciprocity"](
                p["reciprocity.weight"],
                w.grievance[i][t],
                p["reciprocity.fatigue"],
                w.hostility[i],
                net,
                p["reciprocity.mirror"],
                cd,
                1.0 if s.contact[t] else 0.0,
            ),
            "deterrence": F["deterrence"](
                p["deterrence.weight"], rt, s.deterrent[t], e, material, p["deterrence.verbal_share"]
            ),
            "audience_costs": F["audience_costs"](
                p["audience_costs.weight"], w.commitment[i], float(mv.concession[move]), s.agreement[i]
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
                s.crisis[t],
            ),
            "mediation": F["mediation"](
                p["mediation.weight"],
                w.mediation[i],
                p["mediation.implementation"],
                s.agreement[i],
                c,
                e,
                float(spec.party[i]),
                p["mediation.drive"],
                res,
                float(spec.leverage[0, i, t]),
                s.crisis[t],
                float(mv.mediation[move]),
            ),
            "ripeness": F["ripeness"](
                p["ripeness.weight"], ripe_it, s.way_out[i], float(mv.settlement[move])
            ),
            "accidents": F["accidents"](p["accidents.weight"], rt, s.exposure[i], cd),
        }

    def choice_probabilities(self) -> list[tuple[int, int, float]]:
        """(move, target, probability) of every option under the logit rule (docs/model.md 7.2)."""
        options, weights, allowed = self._weights()
        total = sum(w for w, ok in zip(weights, allowed, strict=True) if ok)
        return [
            (m, t, w / total if ok else 0.0) for (m, t), w, ok in zip(options, weights, allowed, strict=True)
        ]

    def _weights(self) -> tuple[list[tuple[int, int]], list[float], list[bool]]:
        options = self.options()
        utility = []
        for move, target in options:
            if self.allowed(move, target):
                total = 0.0
                for value in self.utility_terms(move, target).values():
                    total += value
                utility.append(total)
            else:
                utility.append(None)
        best = max(u for u in utility if u is not None)
        weights = [0.0 if u is None else math.exp(self.model.p["rationality"] * (u - best)) for u in utility]
        return options, weights, [u is not None for u in utility]

    def decide(self) -> tuple[int, int] | None:
        """Today's (move, target), or None to hold: a logit draw over the allowed options."""
        options, weights, allowed = self._weights()
        total = 0.0
        for weight, ok in zip(weights, allowed, strict=True):
            if ok:
                total += weight
        draw = uniform_py(
            self.model.keys[Purpose.CHOICE], self.model.replicate * self.model.spec.n + self.index
        )
        threshold, cumulative, pick = draw * total, 0.0, None
        for k, (weight, ok) in enumerate(zip(weights, allowed, strict=True)):
            if ok:
                cumulative += weight
                pick = k
                if cumulative > threshold:
                    break
        move, target = options[pick]
        return None if move == self.model.spec.hold_move else (move, target)


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
        n, k = self.spec.n, len(self.spec.postures.ids)
        self.world = World(
            tension=[[0.0] * n for _ in range(n)],
            grievance=[[0.0] * n for _ in range(n)],
            hostility=[0.0] * n,
            commitment=[0.0] * n,
            backing=[[0.0] * n for _ in range(n)],
            mediation=[0.0] * n,
            costs=[0.0] * n,
            held=[[False] * k for _ in range(n)],
            target=[[0] * k for _ in range(n)],
            age=[[0] * k for _ in range(n)],
        )
        for actor, posture, target in self.spec.start_postures:
            self.world.held[actor][posture] = True
            self.world.target[actor][posture] = target
        self.actors = [ReferenceActor(self, i, a) for i, a in enumerate(self.spec.actor_ids)]
        self.scripted: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.changes: dict[int, list[dict]] = defaultdict(list)
        ids = self.spec.actor_ids
        for event in scenario.events:
            if event.set is not None:
                self.changes[event.day].append(event.set)
            else:
                target = event.target or event.actor
                self.scripted[event.day].append(
                    (ids.index(event.actor), self.spec.moves.index(event.move), ids.index(target))
                )
        self.day = 0
        self.tension: list[float] = []
        self.dyads: list[list[float]] = []
        self.posture: list[list[float]] = []
        self.settled: list[bool] = []
        self.events: list[tuple[int, int, int, int, int]] = []  # day, actor, target, move, kind
        self.drivers: list[list[list[list[float]]]] | None = None  # see track_drivers()
        self.driver_log: list[np.ndarray] = []

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
        """Derive the day's situation from the world, once, for every actor."""
        spec, w, p, n = self.spec, self.world, self.p, self.spec.n
        ps, aff, cap, res = spec.postures, spec.affinity[0], spec.capability[0], spec.resolve[0]
        s = Seen()
        buffer = 0.0
        pledge, bonus = [False] * n, [0.0] * n
        for i in range(n):
            s.contact.append(False)
            for k in range(len(ps.ids)):
                if w.held[i][k]:
                    s.contact[i] = s.contact[i] or bool(ps.contact[k])
                    buffer = max(buffer, float(ps.buffer[k]))
                    pledge[i] = pledge[i] or bool(ps.pledge[k])
                    bonus[i] += float(ps.deterrence[k])
        signed = [
            1.0 if pledge[i] and any(pledge[j] and aff[i, j] < 0.0 for j in range(n)) else 0.0
            for i in range(n)
        ]
        for i in range(n):
            agreement = signed[i]
            for k in range(n):
                agreement = max(agreement, max(float(aff[i, k]), 0.0) * signed[k])
            s.agreement.append(agreement)
        for j in range(n):
            total = 0.0
            for k in range(n):
                side = 1.0 if k == j else max(float(aff[k, j]), 0.0)
                total += side * (float(cap[k]) * (1.0 + bonus[k]))
            s.deterrent.append(total)
            total = 0.0
            for k in range(n):
                total += max(float(aff[k, j]), 0.0) * float(cap[k]) * float(res[k]) * (1.0 + w.backing[k][j])
            s.backing.append(total)
        for i in range(n):
            worst = 0.0
            for j in range(n):
                if aff[i, j] < 0.0 and w.tension[i][j] / 100.0 > worst:
                    worst = w.tension[i][j] / 100.0
            s.crisis.append(worst)
            s.way_out.append(min(1.0, w.mediation[i]))
        for i in range(n):
            row = [
                F["incident_risk"](w.tension[i][j], buffer)
                if s.contact[i] and s.contact[j] and aff[i, j] < 0.0
                else 0.0
                for j in range(n)
            ]
            total = 0.0
            for value in row:
                total += value
            s.risk.append(row)
            s.exposure.append(total)
        for i in range(n):
            s.hurt.append(F["hurt"](w.costs[i], p["ripeness.hurt_scale"]))
            row = []
            for j in range(n):
                total = 0.0
                for k in range(n):
                    total += max(float(aff[i, k]), 0.0) * w.tension[k][j]
                row.append(total / 100.0)
            s.pull.append(row)
        return s

    @property
    def keys(self) -> dict[Purpose, int]:
        return {purpose: stream_key(self.seed, self.day, purpose) for purpose in Purpose}

    def step(self) -> None:
        """One day: every actor decides on the same situation, then all moves take effect."""
        for changes in self.changes.get(self.day, []):
            from sim.scenario.loader import apply_changes

            self.crisis = apply_changes(self.crisis, changes)
            self._compile(self.crisis)
        self.seen = self.see()
        scripted_actors = {a for a, _, _ in self.scripted.get(self.day, [])}
        todays: list[tuple[int, int, int, int]] = []
        for agent in self.actors:
            if agent.index in scripted_actors:
                continue
            choice = agent.decide()
            if choice is not None:
                todays.append((agent.index, choice[1], choice[0], CHOSEN))
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
        """Incidents between adversaries' forces in contact (docs/model.md 7.4)."""
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
        standing postures contributed, decayed like the tension itself, so the parts add up
        exactly to the tension. Each day's parts go to driver_log, (N + 1, pairs).
        Where clipping to 0..100 cut the tension, the parts on the overshooting
        side shrink in proportion; only what they cannot absorb is booked to the
        extra row.
        """
        n = self.spec.n
        self.drivers = [[[0.0] * n for _ in range(n)] for _ in range(n + 1)]

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

    def take_effect(self, todays: list[tuple[int, int, int, int]]) -> None:
        """Stocks decay, the day's events apply, standing postures press (docs/model.md 7.3)."""
        spec, w, p, n = self.spec, self.world, self.p, self.spec.n
        mv, ps, aff = spec.moves, spec.postures, spec.affinity[0]
        memory = 1.0 - p["reciprocity.memory"]
        for i in range(n):
            w.hostility[i] *= memory
            w.commitment[i] *= 1.0 - p["audience_costs.decay"]
            w.mediation[i] *= 1.0 - p["mediation.decay"]
            w.costs[i] *= 1.0 - p["ripeness.recovery"]
            for j in range(n):
                w.tension[i][j] *= 1.0 - p["tension.decay"]
                w.grievance[i][j] *= memory
                w.backing[i][j] *= 1.0 - p["alliance.memory"]

        def aggrieve(src: int, tgt: int, amount: float) -> None:
            w.grievance[tgt][src] += amount
            for k in range(n):
                w.grievance[k][src] += max(float(aff[k, tgt]), 0.0) * amount

        for src, tgt, m, _ in todays:
            g = float(mv.goldstein[m])
            w.tension[src][tgt] += -g * p["tension.event_scale"]
            w.tension[tgt][src] += -g * p["tension.event_scale"]
            self._drive(src, src, tgt, -g * p["tension.event_scale"])
            aggrieve(src, tgt, -g / 10.0)
            w.hostility[src] += float(mv.hostility[m])
            w.commitment[src] += float(mv.hostility[m]) * float(mv.commitment[m])
            w.backing[src][tgt] += float(mv.support[m])
            w.mediation[tgt] += (
                float(mv.mediation[m])
                * float(spec.leverage[0, src, tgt])
                * (1.0 + float(aff[src, tgt]))
                / 2.0
            )
            if mv.sets[m] >= 0:
                w.held[src][mv.sets[m]] = True
                w.target[src][mv.sets[m]] = tgt
                w.age[src][mv.sets[m]] = 0
            if mv.clears[m] >= 0:
                w.held[src][mv.clears[m]] = False
            if mv.clash[m] > 0.0:
                w.clashed = True
        for i in range(n):
            for k in range(len(ps.ids)):
                if w.held[i][k]:
                    t, pressure = w.target[i][k], float(ps.pressure[k])
                    w.tension[i][t] += pressure * p["tension.posture_scale"]
                    w.tension[t][i] += pressure * p["tension.posture_scale"]
                    self._drive(i, i, t, pressure * p["tension.posture_scale"])
                    aggrieve(i, t, pressure / 10.0)
                    w.hostility[i] += max(pressure, 0.0) / 10.0
                    w.costs[i] += float(ps.cost[k])
        for i in range(n):
            worst = 0.0
            for j in range(n):
                if aff[i, j] < 0.0 and w.tension[i][j] > worst:
                    worst = w.tension[i][j]
            w.costs[i] += worst / 100.0
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
