"""The crisis model: a `mesa.Model` stepping R replicates of a scenario day by day.

Each day (simultaneous activation): scripted parameter changes take effect;
every actor decides on the same situation; then all moves, scripted moves and
accidents take effect together; then standing postures press and costs
accumulate. So the result never depends on the order in which actors act.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import mesa
import numpy as np

from sim import mechanisms
from sim import state as dynamics
from sim.agents import CrisisActor
from sim.errors import ScenarioError
from sim.loader import apply_changes
from sim.mechanisms import Situation
from sim.rng import Purpose, uniforms
from sim.scenario import Scenario
from sim.spec import Options, compile_spec

CHOSEN, SCRIPTED, ACCIDENT = 0, 1, 2
EVENT_KINDS = ("chosen", "scripted", "accident")


class CrisisModel(mesa.Model):
    """R replicates of one scenario in lockstep (R = 1 is an ordinary single run).

    Args:
        scenario: a validated scenario.
        replicates: how many (0..R-1) or which replicate indices to run.
        days: number of days (default: the scenario's).
        seed: seed of the random streams (default: the scenario's).
        batch: per-replicate parameter values, dotted path -> array (R,).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        replicates: int | Sequence[int] = 1,
        days: int | None = None,
        seed: int | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
    ):
        seed = scenario.seed if seed is None else int(seed)
        # Mesa's own generator, kept for Mesa idioms; the mechanisms draw from the
        # counter-based streams in sim.rng so that replicates are independent of batching.
        super().__init__(rng=np.random.Generator(np.random.Philox(seed)))
        self.crisis = scenario
        self.seed = seed
        if isinstance(replicates, (int, np.integer)):
            replicates = np.arange(int(replicates))
        self.replicates = np.asarray(replicates, dtype=np.int64)
        self.days = scenario.days if days is None else int(days)
        self.batch = dict(batch or {})
        self.spec = compile_spec(scenario, self.batch)
        self.state = dynamics.State.initial(self.spec, len(self.replicates))
        self.actors = [
            CrisisActor(self, i, actor_id, scenario.actors[actor_id])
            for i, actor_id in enumerate(self.spec.actor_ids)
        ]
        self.moves_by_day: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.changes_by_day: dict[int, list[dict]] = defaultdict(list)
        self._schedule(scenario)
        self.situation: Situation | None = None
        self.day = 0
        self.recorder = Recorder(self)

    def _schedule(self, scenario: Scenario) -> None:
        ids = self.spec.actor_ids
        for n, event in enumerate(scenario.events):
            if event.set is not None:
                self.changes_by_day[event.day].append(event.set)
                continue
            move = self.spec.moves.index(event.move)
            if event.target is None and self.spec.moves.targets[move] != "self":
                raise ScenarioError(
                    "a scripted move needs a target",
                    source=scenario.name,
                    field=f"events.{n}.target",
                )
            target = ids.index(event.target) if event.target else ids.index(event.actor)
            self.moves_by_day[event.day].append((ids.index(event.actor), move, target))

    def _change_parameters(self, changes: dict) -> None:
        self.crisis = apply_changes(self.crisis, changes)
        batch = {k: v for k, v in self.batch.items() if k not in changes}
        self.spec = compile_spec(self.crisis, batch)

    def step(self) -> None:
        """Advance every replicate by one day."""
        day = self.day
        for changes in self.changes_by_day.get(day, []):
            self._change_parameters(changes)
        spec, state = self.spec, self.state
        self.situation = Situation.of(state, spec)
        u = uniforms(self.seed, day, Purpose.CHOICE, self.replicates, spec.n)
        self.agents.do("decide", u)
        r = len(self.replicates)
        move = np.empty((r, spec.n), dtype=np.int64)
        target = np.empty((r, spec.n), dtype=np.int64)
        for agent in self.actors:
            opts = agent.options
            move[:, agent.index] = opts.move[agent.choice]
            target[:, agent.index] = opts.target[agent.choice]
        scripted = self._scripted(day)
        for actor in set(scripted[1].tolist()):
            move[:, actor] = spec.hold_move  # a scripted actor makes only its scripted moves
        rows, src = np.nonzero(move != spec.hold_move)
        events = [rows, src, target[rows, src], move[rows, src], np.full(len(rows), CHOSEN)]
        events = [np.concatenate(parts) for parts in zip(events, scripted, self._accidents(day), strict=True)]
        dynamics.decay(state, spec)
        dynamics.apply_events(state, spec, *events[:4])
        dynamics.standing_postures(state, spec)
        self.recorder.record(day, events)
        self.day += 1
        if self.day >= self.days:
            self.running = False

    def _scripted(self, day: int) -> list[np.ndarray]:
        """The day's scripted moves, in every replicate where their requirements hold."""
        todays = self.moves_by_day.get(day, [])
        if not todays:
            return [np.zeros(0, dtype=np.int64)] * 5
        actor, move, target = (np.array(col) for col in zip(*todays, strict=True))
        ok = mechanisms.available(self.situation, self.spec, Options(actor, move, target))
        rows, col = np.nonzero(ok)
        return [rows, actor[col], target[col], move[col], np.full(len(rows), SCRIPTED)]

    def _accidents(self, day: int) -> list[np.ndarray]:
        """Incidents between adversaries' forces in contact, at a hazard rising with tension."""
        spec, sit = self.spec, self.situation
        n = spec.n
        hazard = spec.mech["accidents.hazard"][:, None, None] * sit.risk
        u = uniforms(self.seed, day, Purpose.ACCIDENT, self.replicates, 3 * n * n)
        u = u.reshape(-1, 3, n, n)
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        happens = upper & (u[:, 0] < -np.expm1(-hazard))
        rows, i, j = np.nonzero(happens)
        first = u[rows, 1, i, j] < 0.5
        src, tgt = np.where(first, i, j), np.where(first, j, i)
        level = (self.state.tension[rows, i, j] / 100.0) ** 2
        escalation = spec.mech["accidents.escalation"]
        escalation = escalation[rows] if escalation.shape[0] > 1 else escalation[0]
        clash = u[rows, 2, i, j] < escalation * level
        move = np.where(clash, spec.clash_move, spec.incident_move)
        return [rows, src, tgt, move, np.full(len(rows), ACCIDENT)]

    def run(self) -> None:
        """Step until the last day."""
        while self.running:
            self.step()


class Recorder:
    """Daily trajectories and the event log of every replicate."""

    def __init__(self, model: CrisisModel):
        r, t, spec = len(model.replicates), model.days, model.spec
        self.model = model
        self.pairs = spec.pairs()
        self.tension = np.zeros((r, t))
        self.dyads = np.zeros((r, t, len(self.pairs)))
        self.posture = np.zeros((r, t, spec.n))
        self.settled = np.zeros((r, t), dtype=bool)
        self.events: list[np.ndarray] = []

    def record(self, day: int, events: list[np.ndarray]) -> None:
        model = self.model
        state, spec = model.state, model.spec
        level = dynamics.global_tension(state, spec)
        self.tension[:, day] = level
        i, j = zip(*self.pairs, strict=True)
        self.dyads[:, day] = state.tension[:, list(i), list(j)]
        self.posture[:, day] = dynamics.posture_level(state, spec)
        self.settled[:, day] = dynamics.settled(state, spec, level)
        rows, src, tgt, move, kind = events
        self.events.append(np.stack([rows, np.full(len(rows), day), src, tgt, move, kind], axis=1))

    def event_table(self) -> np.ndarray:
        """(E, 6) int array: replicate row, day, actor, target, move, kind, sorted."""
        table = np.concatenate(self.events) if self.events else np.zeros((0, 6), dtype=np.int64)
        order = np.lexsort((table[:, 4], table[:, 2], table[:, 1], table[:, 0]))
        return table[order]
