"""Checks a domain expert would make: calm without a trigger, the record's shape and mix, robustness.

Each check returns plain numbers (and says what it measured), so
`benchmarks/validity.py`, the tests and docs/model.md report the same figures.
Everything about the crisis comes from the scenario and its record: the
trigger is the scenario's scripted events, the targets are the record's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.analysis.fit import RUNGS_OF_ROOT, Simulated, per_run, simulate, summary
from sim.analysis.sensitivity import calibratable
from sim.scenario.batch import value_at
from sim.scenario.loader import locate
from sim.scenario.record import Targets, own_events, read_event_data, targets
from sim.scenario.schema import Scenario

MATERIAL_ROOT = 15  # CAMEO roots 15-20: material conflict (QuadClass 4)


@dataclass
class Calm:
    runs: int
    days: int
    p_agreement: float  # share of runs in which a deal was signed
    p_material: float  # share of runs with any material hostile move (CAMEO 15-20)
    events_per_day: float


def calm(
    scenario: Scenario, *, runs: int = 1000, days: int = 60, batch: Mapping[str, np.ndarray] | None = None
) -> Calm:
    """The scenario without its scripted events and history: no trigger, so the world should stay calm."""
    quiet = scenario.model_copy(update={"events": [], "history": []})
    sim = simulate(quiet, runs, days=days, batch=batch)
    ev = sim.events
    material = ev[sim.roots[ev[:, 4]] >= MATERIAL_ROOT]
    signed = ev[ev[:, 4] == sim.settle_move] if sim.settle_move >= 0 else ev[:0]
    return Calm(
        runs=runs,
        days=days,
        p_agreement=len(np.unique(signed[:, 0])) / runs,
        p_material=len(np.unique(material[:, 0])) / runs,
        events_per_day=len(ev) / runs / days,
    )


@dataclass
class RecordFit:
    runs: int
    share: dict[str, tuple[float, float]]  # actor -> (simulated, record)
    phases: dict[str, tuple[float, float, float, float]]  # phase -> (record, q25, median, q75) daily sum
    # the same on each run's own clock (`clocked`): phase -> (record, q25, median, q75, runs read, anchor)
    aligned: dict[str, tuple[float, float, float, float, int, str]]
    first_moves: dict[str, tuple[float, float]]  # name -> (median simulated day, record day)
    agreement_day: tuple[float, float | None]  # median over all runs (a run without a deal: its last day)
    agreement_spread: tuple[float, float, float]  # q25, median, q75 of the deal day over the runs with one
    resolution_day: tuple[float, float | None]
    p_clash: float
    p_agreement: float
    # phase -> the share of runs below the record's daily sum (ties count half): 0.5 is the middle
    rank: dict[str, float] = field(default_factory=dict)
    # share of runs with k = 0..len(phases) of their own phases inside the 50% bands (`twin_inside`)
    twin: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def shares_within(self) -> int:
        return sum(abs(s - r) <= 0.10 for s, r in self.share.values())

    @property
    def phases_inside(self) -> int:
        return sum(q25 <= rec <= q75 for rec, q25, _, q75 in self.phases.values())

    @property
    def aligned_inside(self) -> int:
        return sum(q25 <= rec <= q75 for rec, q25, _, q75, n, _ in self.aligned.values() if n)


def shifted_means(daily: np.ndarray, a: int, b: int, shift: np.ndarray) -> np.ndarray:
    """Each run's mean of `daily` over days a..b moved by its `shift` (whole days), for the runs whose
    moved days are all simulated (a NaN shift leaves the run out)."""
    ok = np.isfinite(shift)
    moved = np.where(ok, shift, 0)
    keep = np.flatnonzero(ok & (a + moved >= 0) & (b + moved < daily.shape[1]))
    return np.array([daily[r, int(a + shift[r]) : int(b + shift[r]) + 1].mean() for r in keep])


def record_fit(
    scenario: Scenario, *, runs: int = 1000, batch: Mapping[str, np.ndarray] | None = None
) -> RecordFit:
    """The ensemble against its record over the record's window (docs/model.md 8.2).

    The phases are read twice: on the calendar, as the acceptance asks, and on each run's own clock
    (`clocked`), which tells a rhythm that is right but early or late (the deal's spread) from one that
    is wrong in size or sign.
    """
    goal: Targets = targets(scenario)
    last = goal.window[1]
    sim = simulate(scenario, runs, days=max(scenario.days, last + 1), batch=batch)
    stats = summary(sim, goal)
    parts = per_run(sim, goal)
    daily, agreement = parts["daily"], parts["agreement_day"]
    has_deal = agreement < sim.days
    phases, rank = {}, {}
    means = np.stack([daily[:, a : b + 1].mean(axis=1) for a, b in goal.phases.values()], axis=1)
    for k, name in enumerate(goal.phases):
        q25, q50, q75 = np.quantile(means[:, k], [0.25, 0.5, 0.75])
        record = goal.goldstein[name]
        phases[name] = (record, float(q25), float(q50), float(q75))
        rank[name] = float(np.mean(means[:, k] < record) + 0.5 * np.mean(means[:, k] == record))
    return RecordFit(
        runs=runs,
        share={a: (stats[f"share.{a}"], goal.actor_share[a]) for a in scenario.actors},
        phases=phases,
        aligned=clocked(daily, np.where(has_deal, agreement, np.nan), goal),
        first_moves={k: (stats[f"first_move.{k}"], v) for k, v in goal.first_moves.items()},
        agreement_day=(float(np.median(agreement)), goal.agreement_day),
        agreement_spread=tuple(
            np.quantile(agreement[has_deal], [0.25, 0.5, 0.75]) if has_deal.any() else [np.nan] * 3
        ),
        resolution_day=(float(np.median(parts["resolution_day"])), goal.resolution_day),
        p_clash=float(parts["clash"].mean()),
        p_agreement=float(has_deal.mean()),
        rank=rank,
        twin=twin_inside(means),
    )


def twin_inside(means: np.ndarray) -> np.ndarray:
    """How many phases the ensemble's own runs put inside its 50% bands: the share of runs with
    k = 0..phases of them inside, each run read as if it were the record (a twin experiment).

    A model that were the truth would meet "at least 4 of 5" only as often as this says: a record is
    one draw of the process, and each band holds half of the draws. `means`: (runs, phases), each
    run's mean daily sum in each phase. Each run is read against the bands of all runs, its own
    included (one run in a thousand moves a quartile by at most one order statistic).
    """
    q25, q75 = np.quantile(means, [0.25, 0.75], axis=0)
    inside = ((means >= q25) & (means <= q75)).sum(axis=1)
    return np.bincount(inside, minlength=means.shape[1] + 1) / len(means)


def ladder_by_phase(
    scenario: Scenario,
    *,
    runs: int = 1000,
    batch: Mapping[str, np.ndarray] | None = None,
    sim: Simulated | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Events a day on each rung of the ladder (cooperation, verbal conflict, coercion, violence: CAMEO
    roots 01-09, 10-13, 14-17, 18-20) in each of the record's phases, the ensemble's mean over its runs
    and the record's (the scenario's actors' events; moves without a CAMEO code, such as `hold`, are
    not events of either): phase -> (simulated, record), four numbers each.

    The phases' Goldstein sums say how hostile a phase was; this says with which moves, so a fit that
    reaches the sums with the wrong moves shows (docs/model.md 8.2, stop 26). `sim`: runs of the scenario
    already made (`ladder_days` long at least), in place of `runs` new ones.
    """
    data = read_event_data(locate(scenario), scenario)  # read once: the targets and the ladder
    goal = targets(scenario, data)
    if sim is None:
        sim = simulate(scenario, runs, days=ladder_days(scenario, goal), batch=batch)
    runs = sim.runs
    roots = sim.roots[sim.events[:, 4]]
    ev = sim.events[roots > 0]
    rung = RUNGS_OF_ROOT[roots[roots > 0]]
    record = own_events(data, scenario)
    record_rung = RUNGS_OF_ROOT[record["root"].astype(int).to_numpy()]
    out = {}
    for name, (a, b) in goal.phases.items():
        days = b - a + 1
        ours = (ev[:, 1] >= a) & (ev[:, 1] <= b)
        theirs = ((record["sim_day"] >= a) & (record["sim_day"] <= b)).to_numpy()
        out[name] = (
            np.bincount(rung[ours], minlength=4) / runs / days,
            np.bincount(record_rung[theirs], minlength=4) / days,
        )
    return out


def ladder_days(scenario: Scenario, goal: Targets) -> int:
    """How many days ladder_by_phase simulates: the scenario's, or the record's window if longer."""
    return max(scenario.days, goal.window[1] + 1)


def clocked(
    daily: np.ndarray, deal: np.ndarray, goal: Targets
) -> dict[str, tuple[float, float, float, float, int, str]]:
    """Each phase's daily sum on the clock of its nearer anchor, the trigger or the deal.

    A phase that starts nearer the window's first day than the record's deal day (2021: the onset and
    the signalling) belongs to the trigger and is read on the calendar, every run; the others (the
    intervention, implementation and aftermath) are moved by the run's deal day less the record's,
    over the runs with a deal (`deal` NaN without one) whose moved phase lies inside the simulated
    days. A record without a deal gives nothing. Phase -> (record, q25, median, q75, runs, anchor).
    """
    if goal.agreement_day is None:
        return {}
    start = goal.window[0]
    shift_by_deal = deal - goal.agreement_day
    out = {}
    for name, (a, b) in goal.phases.items():
        by_deal = abs(a - goal.agreement_day) < abs(a - start)
        shift = shift_by_deal if by_deal else np.zeros(len(daily))
        moved = shifted_means(daily, a, b, shift)
        q = np.quantile(moved, [0.25, 0.5, 0.75]) if len(moved) else np.full(3, np.nan)
        anchor = "deal" if by_deal else "trigger"
        out[name] = (goal.goldstein[name], float(q[0]), float(q[1]), float(q[2]), len(moved), anchor)
    return out


@dataclass
class Robustness:
    draws: int
    runs: int
    spread: float
    rows: list[dict[str, float]]  # one per draw: peak day, agreement day, resolution day, p_clash, ok

    @property
    def share_ok(self) -> float:
        return float(np.mean([r["ok"] for r in self.rows]))


def robustness(
    scenario: Scenario,
    *,
    draws: int = 50,
    runs: int = 300,
    spread: float = 0.2,
    seed: int = 7,
    base: Mapping[str, float] | None = None,
    peak_by: int = 10,
    max_clash: float = 0.10,
) -> Robustness:
    """Joint +-`spread` jitters of every calibratable mechanism parameter: does the shape survive?

    The shape: the median run peaks by day `peak_by`, the median resolution
    comes after the median agreement (and the deal is signed in most runs), and
    P(clash) is at most `max_clash`.
    """
    from sim.scenario.batch import batch_fields

    ranges = calibratable(scenario)
    fields = batch_fields(scenario)
    values = {p: float(base[p]) if base and p in base else value_at(scenario, p) for p in ranges}
    rng = np.random.default_rng(seed)
    goal = targets(scenario)
    rows = []
    for _ in range(draws):
        batch = {}
        for path, v in values.items():
            lo, hi = fields[path].lo, fields[path].hi
            x = v * rng.uniform(1.0 - spread, 1.0 + spread)
            x = min(max(x, -np.inf if lo is None else lo), np.inf if hi is None else hi)
            batch[path] = np.full(runs, float(x))
        sim = simulate(scenario, runs, batch=batch)
        parts = per_run(sim, goal)
        peak = float(np.median(parts["peak_day"]))
        agreement = float(np.median(parts["agreement_day"]))
        resolution = float(np.median(parts["resolution_day"]))
        clash = float(parts["clash"].mean())
        after = float(np.mean(parts["agreement_day"] < parts["resolution_day"]))
        ok = peak <= peak_by and agreement < resolution and after >= 0.5 and clash <= max_clash
        rows.append(
            {
                "peak_day": peak,
                "agreement_day": agreement,
                "resolution_day": resolution,
                "p_clash": clash,
                "resolved_after_deal": after,
                "ok": float(ok),
            }
        )
    return Robustness(draws=draws, runs=runs, spread=spread, rows=rows)


# Each mechanism and the parameter setting that switches it off (docs/model.md, "Knock-outs").
KNOCKOUTS = {
    "disposition (hawkishness)": {"mechanisms.disposition.hawkishness": 0.0},
    "issues (dissatisfaction)": {"mechanisms.issues.weight": 0.0},
    "loss aversion": {"mechanisms.issues.loss_aversion": 1.0},
    "reciprocity": {"mechanisms.reciprocity.weight": 0.0},
    "deterrence": {"mechanisms.deterrence.weight": 0.0},
    "audience costs": {"mechanisms.audience_costs.weight": 0.0},
    "costly signals (beliefs)": {"mechanisms.audience_costs.signal": 0.0},
    "sunk costs (shows of force on alert)": {"mechanisms.disposition.sunk_cost": 0.0},
    "alliance (emboldening)": {"mechanisms.alliance.weight": 0.0},
    "alliance (restraint)": {"mechanisms.alliance.restraint": 0.0},
    "mediation": {"mechanisms.mediation.weight": 0.0},
    "implementation of deals (the agreement term)": {"mechanisms.mediation.implementation": 0.0},
    "implementation of deals (carrying out)": {"mechanisms.bargaining.implementation": 0.0},
    "demands met (coercion lifted)": {"mechanisms.bargaining.demands_met": 0.0},
    "ripeness (hurt in bargaining)": {"mechanisms.bargaining.cost_weight": 0.0},
    "escalation ladder": {"mechanisms.escalation.jump_cost": 0.0},
    "accidents": {"mechanisms.accidents.hazard": 0.0},
    "war weariness (casualties on one's own side)": {"mechanisms.accidents.weariness": 0.0},
    "retaliation (answering an unanswered blow)": {"mechanisms.retaliation.weight": 0.0},
    "unanswered blows in arousal (activity)": {"mechanisms.retaliation.arousal": 0.0},
    "arousal (activity)": {"mechanisms.activity.arousal": 0.0},
    "the crisis in arousal (activity)": {"mechanisms.activity.crisis": 0.0},
    "answering moves (activity)": {"mechanisms.activity.response": 0.0},
    "several moves a day": {"mechanisms.activity.max_moves": 1},
    "prominence (capability in the move rate)": {"mechanisms.activity.prominence": 0.0},
    "the offer as prospect in talks": {"mechanisms.bargaining.prospect": 0.0},
}
HEADLINES = {
    "p_clash": "P(armed clash)",
    "peak_tension": "median peak tension",
    "peak_day": "median peak day",
    "p_deal_30": "P(deal by day 30)",
    "resolution_day": "median days to resolution",
    "events_per_day": "events per day",
}


def headlines(sim: Simulated) -> dict[str, np.ndarray]:
    """Per-run headline outputs (the knock-out table's columns)."""
    from sim.results.outcomes import classify

    o = classify(
        sim.tension, sim.settled, sim.clashed, int(sim.scenario.mechanisms.outcome.resolution_window)
    )
    parts = per_run(sim, targets(sim.scenario)) if sim.scenario.record else None
    agreement = parts["agreement_day"] if parts else np.full(sim.runs, float(sim.days))
    counts = np.bincount(sim.events[:, 0], minlength=sim.runs) if len(sim.events) else np.zeros(sim.runs)
    return {
        "p_clash": (o["outcome"] == 2).astype(float),
        "peak_tension": sim.tension.max(axis=1),
        "peak_day": o["peak_day"].astype(float),
        "p_deal_30": (agreement <= 30).astype(float),
        "resolution_day": np.where(o["outcome"] == 0, o["resolution_day"], sim.days).astype(float),
        "events_per_day": counts / sim.days,
    }


def _stat(name: str, values: np.ndarray) -> float:
    return float(np.mean(values)) if name.startswith(("p_", "events")) else float(np.median(values))


@dataclass
class Knockout:
    mechanism: str
    setting: dict[str, float]
    base: dict[str, float]
    value: dict[str, float]
    low: dict[str, float]  # 95% paired-bootstrap interval of the difference
    high: dict[str, float]

    @property
    def significant(self) -> list[str]:
        return [k for k in self.base if self.low[k] > 0.0 or self.high[k] < 0.0]


def knockouts(
    scenario: Scenario,
    *,
    runs: int = 1000,
    resamples: int = 1000,
    seed: int = 11,
    batch: Mapping[str, np.ndarray] | None = None,
    only: Sequence[str] | None = None,
) -> list[Knockout]:
    """Switch each mechanism (or those `only` names) off in turn, on common random numbers; paired
    bootstrap of each difference."""
    base_runs = headlines(simulate(scenario, runs, batch=batch))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, runs, size=(resamples, runs))
    out = []
    for mechanism, setting in KNOCKOUTS.items():
        if only is not None and mechanism not in only:
            continue
        knocked = {**(batch or {}), **{k: np.full(runs, v) for k, v in setting.items()}}
        runs_k = headlines(simulate(scenario, runs, batch=knocked))
        low, high, base, value = {}, {}, {}, {}
        for name in HEADLINES:
            a, b = base_runs[name], runs_k[name]
            base[name], value[name] = _stat(name, a), _stat(name, b)
            if name.startswith(("p_", "events")):
                diffs = (b[picks] - a[picks]).mean(axis=1)
            else:
                diffs = np.median(b[picks], axis=1) - np.median(a[picks], axis=1)
            low[name], high[name] = (float(v) for v in np.quantile(diffs, [0.025, 0.975]))
        out.append(Knockout(mechanism, setting, base, value, low, high))
    return out


def elsewhere(
    scenario: Scenario, mechanisms: Sequence[str], library: Mapping[str, Scenario], *, runs: int = 1000
) -> dict[str, list[tuple[str, Knockout]]]:
    """For mechanisms nominal on `scenario`, the other episodes of the library (scenarios with a record
    of their own) on which switching each off changes a headline significantly.

    A term can be idle in one crisis because nobody there does what it describes (no patron pressed
    its client in 2021); it earns its place if it acts in an episode whose record shows it at work.
    """
    own = scenario.record.events if scenario.record else None
    found: dict[str, list[tuple[str, Knockout]]] = {m: [] for m in mechanisms}
    for name, other in library.items():
        if other.record is None or other.record.events == own:
            continue
        for k in knockouts(other, runs=runs, only=mechanisms):
            if k.significant:
                found[k.mechanism].append((name, k))
    return found
