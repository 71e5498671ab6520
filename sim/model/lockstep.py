"""R replicates of a scenario stepped in lockstep by the compiled kernel: the engine, without Mesa.

Each day (simultaneous activation): scripted parameter changes take effect;
every actor decides on the same situation; then all moves, scripted moves and
accidents take effect together; then standing postures press and costs
accumulate. So the result never depends on the order in which actors act. The
days run in the compiled kernel (`sim/model/kernel.py`), a block of days per
call (`run` goes to the end in one block unless a scripted change of
parameters splits it; `step` is one day); the numbers are the same either way.

`CrisisModel` (`sim/model/model.py`) is this engine as a `mesa.Model` with
its actors as agents; an ensemble's blocks of runs (`sim run`) use the engine
alone, so a command that only simulates does not import Mesa (and the scipy,
networkx and asyncio that Mesa imports), most of a second of start-up.
`sim/model/reference.py` is the same model written the plain way.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from sim.errors import ScenarioError
from sim.model import kernel, mechanisms, rng, scripted
from sim.model.engine_cache import guard_caches, note_if_compiling
from sim.model.rng import Purpose, stream_key
from sim.model.spec import Spec, compile_spec
from sim.model.state import State
from sim.scenario.loader import apply_changes
from sim.scenario.schema import Scenario

guard_caches(kernel, mechanisms, rng)


class Lockstep:
    """R replicates of one scenario in lockstep (R = 1 is an ordinary single run).

    Args:
        scenario: a validated scenario.
        replicates: how many (0..R-1) or which replicate indices to run.
        days: number of days (default: the scenario's).
        seed: seed of the random streams (default: the scenario's).
        batch: per-replicate parameter values, dotted path -> array (R,).
        keep_events: which replicates keep their event log (default: all), bool (R,).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        replicates: int | Sequence[int] = 1,
        days: int | None = None,
        seed: int | None = None,
        batch: Mapping[str, np.ndarray] | None = None,
        keep_events: np.ndarray | None = None,
    ):
        note_if_compiling()  # the first model in a fresh install compiles the kernel: say so, once
        self.running = True
        self.steps = 0
        self.crisis = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        if isinstance(replicates, (int, np.integer)):
            replicates = np.arange(int(replicates))
        self.replicates = np.asarray(replicates, dtype=np.int64)
        self.days = scenario.days if days is None else int(days)
        self.batch = dict(batch or {})
        r = len(self.replicates)
        self.keep_events = (
            np.ones(r, dtype=np.bool_) if keep_events is None else np.asarray(keep_events, dtype=np.bool_)
        )
        self.spec = compile_spec(scenario, self.batch)
        self._tables = self._kernel_tables(self.spec)
        self.state = State.initial(self.spec, r)
        self.moves_by_day: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.changes_by_day: dict[int, list[dict]] = defaultdict(list)
        self._schedule(scenario)
        self.day = 0
        self.recorder = Recorder(self)
        self._replay_history(scenario)

    def _replay_history(self, scenario: Scenario) -> None:
        """The run-up (`history:`): its days before day 0 in every replicate, only its moves happening.

        Day by day in the kernel, whose days before 0 have no choices, accidents or bargaining and
        record nothing: stocks decay and postures age as in the run, under each replicate's own
        parameters. A clash in the history is the past, not the run's outcome. A history move that
        cannot happen is an input error (the loader checks the same; this is the engine's word).
        """
        if not scenario.history:
            return
        spec, s, rec = self.spec, self.state, self.recorder
        ids = spec.actor_ids
        by_day: dict[int, list[tuple[int, tuple[int, int, int]]]] = defaultdict(list)
        for n, event in enumerate(scenario.history):
            row = (
                ids.index(event.actor),
                spec.moves.index(event.move),
                ids.index(event.target or event.actor),
            )
            by_day[event.day].append((n, row))
        space = kernel.scratch_space(
            spec.n,
            s.status_quo.shape[1],
            self._tables[12],
            max(map(len, by_day.values())),
            len(spec.postures.ids),
        )
        state = tuple(getattr(s, f.name) for f in dataclasses.fields(State))
        special = (spec.incident_move, spec.clash_move, spec.settle_move)
        quiet = np.zeros(len(self.replicates), dtype=np.bool_)
        for day in range(min(by_day), 0):
            todays = by_day.get(day, [])
            rows = np.array([row for _, row in todays], dtype=np.int64).reshape(-1, 3)
            mask, anymask = scripted.posture_masks(s.held, spec.postures.contact)
            for n, row in todays:
                why = scripted.why_not(mask, anymask, s.target, self._tables[7], self._tables[8], row)
                if (why >= 0).any():
                    reason = list(scripted.REASONS.values())[int(why[why >= 0][0])]
                    raise ScenarioError(
                        f"'{scenario.history[n].move}' cannot happen on day {day}: {reason}",
                        source=scenario.name,
                        field=f"history.{n}.move",
                    )
            at = np.array([0, len(rows)], dtype=np.int64)
            keys = np.zeros((1, 3), dtype=np.uint64)  # no draws before day 0
            record = (rec.tension, rec.dyads, rec.posture, rec.settled)  # untouched before day 0
            args = (keys, day, self.replicates, rows, at, special, self._tables, state, record, quiet)
            kernel.run_days(0, len(self.replicates), *args, *space)
        s.clashed[:] = False

    @staticmethod
    def _kernel_tables(spec: Spec) -> tuple:
        feats, posts, conds, shifts = spec.move_table()
        opt_move, opt_target, starts = spec.option_table()
        # Every per-replicate table gets the same leading length B (1, or R when batched):
        # the kernel indexes them all with one row number.
        per_rep = [spec.actor_table(), spec.affinity, spec.leverage, spec.salience, spec.params]
        # issues: positions and salience (2, N, issues); row 2 (the day-0 status quo) is in the state
        rows = max(a.shape[0] for a in per_rep)
        act, aff, lev, sal, params = (
            np.ascontiguousarray(np.broadcast_to(a, (rows, *a.shape[1:]))) for a in per_rep
        )
        return (
            act,
            aff,
            lev,
            sal,
            spec.party.astype(np.float64),
            params,
            feats,
            posts,
            conds,
            spec.posture_table(),
            opt_move,
            opt_target,
            starts,
            shifts,
            spec.issue_table(),
            spec.principals,
        )

    def _schedule(self, scenario: Scenario) -> None:
        ids = self.spec.actor_ids
        for n, event in enumerate(scenario.events):
            if event.set is not None:
                self.changes_by_day[event.day].append(event.set)
                continue
            move = self.spec.moves.index(event.move)
            if event.target is None and self.spec.moves.targets[move] != "self":
                raise ScenarioError(
                    "a scripted move needs a target", source=scenario.name, field=f"events.{n}.target"
                )
            target = ids.index(event.target) if event.target else ids.index(event.actor)
            self.moves_by_day[event.day].append((ids.index(event.actor), move, target))
        self.move_events_by_day = scripted.move_events_by_day(scenario.events)  # their indices in events

    def _change_parameters(self, changes: dict) -> None:
        self.crisis = apply_changes(self.crisis, changes)
        batch = {k: v for k, v in self.batch.items() if k not in changes}
        self.spec = compile_spec(self.crisis, batch)
        self._tables = self._kernel_tables(self.spec)

    def step(self) -> None:
        """Advance every replicate by one day."""
        self._advance(1)

    def run(self) -> None:
        """Step until the last day (in blocks of days: the same numbers as day by day, faster)."""
        while self.running:
            self.steps += self._advance(self.days - self.day)

    def advance(self, days: int) -> int:
        """Advance every replicate by up to `days` days (a progress bar's unit); returns how many were run."""
        done = 0
        while self.running and done < days:
            k = self._advance(days - done)
            self.steps += k
            done += k
        return done

    def _advance(self, most: int) -> int:
        """Run one block of days: at most `most`, and up to the next scripted change of parameters.

        Each replicate runs all the block's days in turn in the compiled kernel
        (its state stays in cache); replicates are split among
        `numba.get_num_threads()` threads, the kernel releasing the GIL.
        """
        day = self.day
        for changes in self.changes_by_day.get(day, []):
            self._change_parameters(changes)
        spec, s, rec = self.spec, self.state, self.recorder
        r = len(self.replicates)
        end = min(self.days, day + max(1, most))
        for later in self.changes_by_day:
            if day < later < end:
                end = later
        # a day with scripted moves runs as a block of its own, so that every run's events can be
        # checked for them (a move the day's postures rule out is skipped: counted, with its reason)
        scripted_today = bool(self.moves_by_day.get(day))
        if scripted_today:
            end = day + 1
        for later, planned in self.moves_by_day.items():
            if planned and day < later < end:
                end = later
        keys = np.array(
            [
                [
                    stream_key(self.seed, d, purpose)
                    for purpose in (Purpose.CHOICE, Purpose.ACCIDENT, Purpose.BARGAIN)
                ]
                for d in range(day, end)
            ],
            dtype=np.uint64,
        ).reshape(-1, 3)
        moves = [self.moves_by_day.get(d, []) for d in range(day, end)]
        scripted_rows = np.array([m for ms in moves for m in ms], dtype=np.int64).reshape(-1, 3)
        scripted_at = np.zeros(len(moves) + 1, dtype=np.int64)
        scripted_at[1:] = np.cumsum([len(ms) for ms in moves])
        keep = self.keep_events
        reasons = None
        if scripted_today:  # the block is this one day, so its scripted rows are the day's
            keep = np.ones_like(self.keep_events)
            mask, anymask = scripted.posture_masks(s.held, spec.postures.contact)
            posts, conds = self._tables[7], self._tables[8]
            reasons = np.stack(
                [scripted.why_not(mask, anymask, s.target, posts, conds, row) for row in scripted_rows],
                axis=1,
            )
        args = (
            keys,
            day,
            self.replicates,
            scripted_rows,
            scripted_at,
            (spec.incident_move, spec.clash_move, spec.settle_move),
            self._tables,
            (
                s.tension,
                s.grievance,
                s.hostility,
                s.commitment,
                s.backing,
                s.mediation,
                s.costs,
                s.belief,
                s.ladder,
                s.status_quo,
                s.reference,
                s.held,
                s.target,
                s.age,
                s.clashed,
                s.attention,
                s.demand,
                s.unanswered,
            ),
            (rec.tension, rec.dyads, rec.posture, rec.settled),
            keep,
        )
        most = max((len(ms) for ms in moves), default=0)

        def piece(bounds: tuple[int, int]) -> np.ndarray:
            space = kernel.scratch_space(
                spec.n, s.status_quo.shape[1], self._tables[12], most, len(spec.postures.ids)
            )
            return kernel.run_days(bounds[0], bounds[1], *args, *space)

        # a few more pieces than threads, so that a slow piece does not hold the others up, and none so
        # small that handing it to a thread costs more than it saves
        pieces = min(r, 4 * numba.get_num_threads(), max(1, r * (end - day) // PIECE_WORK))
        threads = min(numba.get_num_threads(), pieces)
        if threads <= 1:
            rows = [piece((0, r))]
        else:
            rows = list(
                _pool(threads).map(piece, [(k * r // pieces, (k + 1) * r // pieces) for k in range(pieces)])
            )
        if reasons is not None:
            every = np.concatenate(rows)
            happened = scripted.made(every, r, scripted_rows)
            scripted.tally(rec.scripted_missed, self.move_events_by_day[day], happened, reasons)
            rows = [every[self.keep_events[every[:, 0]]]] if len(every) else rows
        rec.record(rows)
        self.day = end
        if self.day >= self.days:
            self.running = False
        return end - day


PIECE_WORK = 2_000  # replicate-days (a few milliseconds) at least in a piece of work for a thread


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sim-kernel")


class Recorder:
    """Daily trajectories and the event log of every replicate."""

    def __init__(self, model: Lockstep):
        r, t, spec = len(model.replicates), model.days, model.spec
        self.model = model
        self.pairs = spec.pairs()
        self.tension = np.zeros((r, t))
        self.dyads = np.zeros((r, t, len(self.pairs)))
        self.posture = np.zeros((r, t, spec.n))
        self.settled = np.zeros((r, t), dtype=bool)
        self.events: list[np.ndarray] = []
        # runs in which each scenario event (a scripted move) did not happen, by reason (scripted.REASONS)
        self.scripted_missed = np.zeros((len(model.crisis.events), len(scripted.REASONS)), dtype=np.int64)

    def record(self, pieces: list[np.ndarray]) -> None:
        """Keep a block's event rows (the pieces in replicate order; copied, so the kernel's buffers go)."""
        rows = np.concatenate(pieces)
        if len(rows):
            self.events.append(rows)

    def event_table(self) -> np.ndarray:
        """(E, 6) int array: replicate row, day, actor, target, move, kind.

        Run by run; within a run by day; within a day in the order the events
        happened: chosen moves by actor, then scripted moves, then accidents.
        """
        if not self.events:
            return np.zeros((0, 6), dtype=np.int32)
        return kernel.by_run(np.concatenate(self.events), len(self.model.replicates))
