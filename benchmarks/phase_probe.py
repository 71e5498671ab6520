"""What bounds the phases of the 2021 fit (docs/model.md 8.2): probes, not model changes.

    python benchmarks/phase_probe.py [--runs 1000] [--factors 1 2 ...] [--belief-priors 0.25 0 ...]
    python benchmarks/phase_probe.py --point    # the phases against the mix of moves (stop 26)
    python benchmarks/phase_probe.py --ladder kosovo_2011 korea_2015 ...   # any record's ladder by phase,
                                                # and the runs still fighting in its window's last third
    python benchmarks/phase_probe.py --timing   # when the talks open, the deal follows, the parties are ready
    python benchmarks/phase_probe.py --readiness korea_2015 ...   # any scenario's readiness for a deal

Issue 10's acceptance 2 asks for the record's daily Goldstein sum inside the ensemble's 50% band in
at least 4 of its 5 phases. This script separates four things that could keep it out:

1. the clock of the talks: the bundled scenario against docs/probes/kosovo_2021_talks_day_9.yaml,
   in which talks open on the record's day and no earlier (the best any mechanism of timing could do);
2. the volume: the same with every actor's activity rate (base, arousal, response) times each of
   `--factors` (1 and 2 by default), with the calm check, the deal and the clashes it brings (and,
   for the clashes, which pairs clash), and, at twice the rate, with Serbia's alerts out of contact
   (docs/probes/..._alerts_apart.yaml); and the signalling phase split by whether the run's deal
   came before the phase ended (a deal signed early brings its cooperative moves into it); last,
   docs/probes/kosovo_2021_third_parties_later.yaml, in which peacekeeping needs a side on its
   highest alert and talks need peacekeepers on the ground (the record's order), at x1 and x2;
3. mutual optimism (`--belief-priors 0.25 0`): the bundled scenario with every actor's initial
   belief in the others' resolve set below the engine's uninformed 0.5 (a probe of the fast engine's
   initial state, not a scenario setting), so that each side underrates the other until signals
   correct it (Blainey 1973; Fearon 1995);
4. the reading: the phases with each chosen move counted k times (scripted moves once), k set so that
   the events per day match the record's: what an observation model with several reports per
   decision would say. The shipped validity figures count every move once.

With `--point` it runs only the bundled scenario against docs/probes/kosovo_2021_phases_point.yaml,
one parameter point searched for the phases and the acceptance's other figures alone: its phases,
and each phase's events a day on each rung of the ladder beside the record's, which show what the
phases cost there (docs/model.md 8.2, "The phases against the rest of the record").

With `--timing` it runs only the bundled scenario and prints what sets the deal's day (docs/model.md
8.2, stop 27): the day the talks first open and the days from then to the deal; the share of runs
whose deal falls before, in, after the record's intervention phase (or never), with the signalling,
intervention and implementation phases' sums in each group; and, from the reference engine (point
values, `READY_RUNS` runs), each principal's chance of accepting the offer on each day were talks
standing, with three parts of its margin: the mediators' pressure, the hurt and the audience costs
(7.5). With `--readiness` it prints only that table, every fourth day of each named scenario's record
window (docs/model.md 8.4, "What keeps a war going", stop 28).

Each row prints whatever it finds; the scenarios' posteriors give each replicate its parameters.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import signal
from pathlib import Path

import numpy as np

from sim import load_scenario
from sim.analysis import validity as v
from sim.analysis.fit import RUNGS_OF_ROOT, per_run, simulate
from sim.model.kernel import SCRIPTED
from sim.model.mechanisms import RUNGS
from sim.scenario.loader import locate
from sim.scenario.record import last_third, own_events, read_event_data, targets

PROBES = Path(__file__).resolve().parent.parent / "docs" / "probes"
VARIANTS = ("kosovo_2021_talks_day_9.yaml", "kosovo_2021_talks_day_9_alerts_apart.yaml")
LATER = "kosovo_2021_third_parties_later.yaml"  # the third parties' material steps after militarisation
ACTIVITY = ("base", "arousal", "response")
BASE = "kosovo_2021"  # the bundled scenario the probes extend
POINT = "kosovo_2021_phases_point.yaml"  # one parameter point searched for the phases alone
RUNG_NAMES = ("cooperation", "verbal conflict", "coercion", "violence")
READY_RUNS, READY_DAYS = 60, 15  # the reference engine's runs and days for the principals' readiness


def louder(scenario, runs: int, factor: float) -> dict[str, np.ndarray] | None:
    """Every actor's activity rate times `factor` (the terms of the bracket of docs/model.md 7.2)."""
    if factor == 1.0:
        return None
    act = scenario.mechanisms.activity
    return {f"mechanisms.activity.{p}": np.full(runs, getattr(act, p) * factor) for p in ACTIVITY}


def band(name: str, record: float, q25: float, q75: float) -> str:
    return f"{name} {record:+.1f} [{q25:+.1f}, {q75:+.1f}]"


def phases_read(sim, goal, k: float) -> tuple[int, str]:
    """Phases inside the 50% band with each non-scripted move counted k times."""
    ev = sim.events
    weight = np.where(ev[:, 5] == SCRIPTED, 1.0, k) * sim.goldstein[ev[:, 4]]
    daily = np.zeros((sim.runs, sim.days))
    np.add.at(daily, (ev[:, 0], ev[:, 1]), weight)
    inside, parts = 0, []
    for name, (a, b) in goal.phases.items():
        q25, q75 = np.quantile(daily[:, a : b + 1].mean(axis=1), [0.25, 0.75])
        rec = goal.goldstein[name]
        inside += q25 <= rec <= q75
        parts.append(band(name, rec, q25, q75))
    return inside, "; ".join(parts)


def matching_k(sim, goal) -> float:
    """The count per chosen move that gives the record's events per day over its window."""
    first, last = goal.window
    ev = sim.events[(sim.events[:, 1] >= first) & (sim.events[:, 1] <= last)]
    days = (last - first + 1) * sim.runs
    scripted = (ev[:, 5] == SCRIPTED).sum() / days
    chosen = (ev[:, 5] != SCRIPTED).sum() / days
    return max((goal.events_per_day - scripted) / chosen, 1.0)


def signalling_mix(sim, goal) -> str:
    """Hostile and cooperative moves a day in the signalling phase, model and record."""
    a, b = goal.phases["signalling"]
    ev = sim.events[(sim.events[:, 1] >= a) & (sim.events[:, 1] <= b)]
    g = sim.goldstein[ev[:, 4]]
    n = (b - a + 1) * sim.runs
    return f"hostile {(g < 0).sum() / n:.2f}, cooperative {(g > 0).sum() / n:.2f} a day"


def signalling_by_deal(sim, goal) -> str:
    """The signalling phase's daily Goldstein sum (quartiles) in the runs whose deal was signed before
    the phase ended, and in the others: how much of its misfit early deals make."""
    a, b = goal.phases["signalling"]
    parts = per_run(sim, goal)
    daily = parts["daily"][:, a : b + 1].mean(axis=1)
    early = parts["agreement_day"] <= b
    rows = []
    for label, runs in (("deal signed by then", early), ("no deal yet", ~early)):
        if runs.any():
            q25, q50, q75 = np.quantile(daily[runs], [0.25, 0.5, 0.75])
            rows.append(f"{label} {runs.mean():.0%} of runs, median {q50:+.1f} [{q25:+.1f}, {q75:+.1f}]")
    return "; ".join(rows)


def clash_pairs(sim) -> str:
    ev = sim.events
    clash = list(sim.moves).index("armed_clash") if "armed_clash" in sim.moves else -1
    rows = ev[ev[:, 4] == clash]
    pairs = collections.Counter(
        " - ".join(sorted((sim.actor_ids[a], sim.actor_ids[t]))) for a, t in rows[:, 2:4]
    )
    total = max(sum(pairs.values()), 1)
    return ", ".join(f"{p} {c / total:.0%}" for p, c in pairs.most_common(3)) or "none"


def probe(scenario, runs: int, factor: float) -> None:
    goal = targets(scenario)
    batch = louder(scenario, runs, factor)
    fit = v.record_fit(scenario, runs=runs, batch=batch)
    calm = v.calm(scenario, runs=runs, batch=batch)
    sim = simulate(scenario, runs, days=max(scenario.days, goal.window[1] + 1), batch=batch)
    k = matching_k(sim, goal)
    inside_k, bands_k = phases_read(sim, goal, k)
    bands = "; ".join(band(n, rec, q25, q75) for n, (rec, q25, _, q75) in fit.phases.items())
    print(f"\n{scenario.name}, activity x{factor:g} ({runs:,} runs)")
    print(f"  phases inside the 50% band: {fit.phases_inside} of 5: {bands}")
    print(f"  signalling: {signalling_mix(sim, goal)}")
    print(f"  signalling by the deal: {signalling_by_deal(sim, goal)}")
    print(
        f"  deal day {fit.agreement_day[0]:g} (deal in {fit.p_agreement:.0%}), first alert "
        f"{', '.join(f'{m[0]:g}' for m in fit.first_moves.values())}, P(clash) {fit.p_clash:.1%} "
        f"({clash_pairs(sim)}); shares within 10 points {fit.shares_within} of {len(fit.share)}"
    )
    print(f"  calm: P(deal) {calm.p_agreement:.1%}, P(material hostile move) {calm.p_material:.1%}")
    print(f"  each chosen move read as {k:.2f} reports (the record's events a day): {inside_k} of 5:")
    print(f"    {bands_k}")


@contextlib.contextmanager
def belief_prior(prior: float):
    """The fast engine's initial beliefs in others' resolve set to `prior` (one's own stays known)."""
    from sim.model import state as state_module

    original = state_module.State.__dict__["initial"]  # the classmethod itself, to put back as it was

    def initial(cls, spec, replicates):
        made = original.__func__(cls, spec, replicates)
        n = made.belief.shape[1]
        own = made.belief[:, np.arange(n), np.arange(n)].copy()
        made.belief[:] = prior
        made.belief[:, np.arange(n), np.arange(n)] = own
        return made

    state_module.State.initial = classmethod(initial)
    try:
        yield
    finally:
        state_module.State.initial = original  # the classmethod object: restored as it was


def trade_off(scenarios, runs: int) -> None:
    """The phases against the mix of moves that makes them (stop 26): each scenario's phases and
    calm, then its events a day on each rung of the ladder in each phase, beside the record's."""
    for scenario in scenarios:
        fit = v.record_fit(scenario, runs=runs)
        calm = v.calm(scenario, runs=runs)
        bands = "; ".join(band(n, rec, q25, q75) for n, (rec, q25, _, q75) in fit.phases.items())
        print(f"\n{scenario.name} ({runs:,} runs)")
        print(f"  phases inside the 50% band: {fit.phases_inside} of 5: {bands}")
        print(
            f"  deal day {fit.agreement_day[0]:g} (half in days {fit.agreement_spread[0]:g}-"
            f"{fit.agreement_spread[2]:g}), first alert "
            f"{', '.join(f'{m[0]:g}' for m in fit.first_moves.values())}, P(clash) {fit.p_clash:.1%}, "
            f"shares within 10 points {fit.shares_within} of {len(fit.share)}; calm: P(deal) "
            f"{calm.p_agreement:.1%}, P(material hostile move) {calm.p_material:.1%}"
        )
        print_ladder(scenario, runs)


def print_ladder(scenario, runs: int) -> None:
    """Each phase's events a day on each rung, simulated and (in brackets) the record's; then how many
    runs still fight in the last third of the record's window (docs/model.md 7.1, 8.4)."""
    goal = targets(scenario)
    sim = simulate(scenario, runs, days=v.ladder_days(scenario, goal))  # one ensemble for both tables
    print(f"  events a day, simulated (record), on the rungs {', '.join(RUNG_NAMES)}:")
    for name, (ours, theirs) in v.ladder_by_phase(scenario, sim=sim).items():
        cells = "  ".join(f"{a:4.2f} ({b:4.2f})" for a, b in zip(ours, theirs, strict=True))
        print(f"    {name:<19s}{cells}")
    start, last = last_third(goal.window)
    ev = sim.events
    violent = RUNGS_OF_ROOT[sim.roots[ev[:, 4]]] == RUNGS.index("violence")  # the ladder's top rung
    late = ev[violent & (ev[:, 1] >= start) & (ev[:, 1] <= last)]
    fighting = np.unique(late[:, 0]).size / runs
    print(
        f"  days {start}-{last} (the window's last third): violence in {fighting:.0%} of runs, "
        f"{len(late) / runs / (last - start + 1):.2f} violent events a day"
    )


def talks_openers(scenario, moves: list[str]) -> list[int]:
    """The moves that open talks (they set a posture marked `talks`)."""
    out = []
    for k, name in enumerate(moves):
        move = scenario.moves.get(name)
        posture = scenario.postures.get(move.sets) if move is not None and move.sets else None
        if posture is not None and posture.talks:
            out.append(k)
    return out


def print_timing(scenario, runs: int) -> None:
    """When the talks open, how soon the deal follows, and the phases by the deal's window."""
    goal = targets(scenario)
    sim = simulate(scenario, runs, days=goal.window[1] + 1)
    ev = sim.events
    opened = ev[np.isin(ev[:, 4], talks_openers(scenario, sim.moves))]
    first = np.full(runs, np.inf)
    np.minimum.at(first, opened[:, 0], opened[:, 1].astype(float))
    parts = per_run(sim, goal)
    deal = parts["agreement_day"]
    signed = deal < sim.days
    talks = np.isfinite(first)
    print(
        f"  talks open in {talks.mean():.0%} of runs; first on day (10/25/50/75/90%): "
        + " ".join(f"{q:g}" for q in np.quantile(first[talks], [0.1, 0.25, 0.5, 0.75, 0.9]))
    )
    lag = (deal - first)[signed & talks]
    print(
        f"  deal in {signed.mean():.0%} of runs; days from the first talks to the deal (25/50/75%): "
        + " ".join(f"{q:g}" for q in np.quantile(lag, [0.25, 0.5, 0.75]))
    )
    a, b = goal.phases["intervention"]
    groups = (
        (f"deal before day {a}", signed & (deal < a)),
        (f"deal on days {a}-{b}", signed & (deal >= a) & (deal <= b)),
        (f"deal after day {b}", signed & (deal > b)),
        ("no deal", ~signed),
    )
    names = [n for n in ("signalling", "intervention", "implementation") if n in goal.phases]
    recorded = "; ".join(f"{n} {goal.goldstein[n]:+.1f}" for n in names)
    print(f"  daily Goldstein sum by phase, median [50% band] (record: {recorded}):")
    for label, runs_in in groups:
        if not runs_in.any():
            continue
        cells = []
        for n in names:
            lo, hi = goal.phases[n]
            x = parts["daily"][runs_in, lo : hi + 1].mean(axis=1)
            q25, q50, q75 = np.quantile(x, [0.25, 0.5, 0.75])
            cells.append(f"{n} {q50:+.1f} [{q25:+.1f}, {q75:+.1f}]")
        print(f"    {label:<20s}{runs_in.mean():4.0%}  " + "; ".join(cells))
    print_readiness(scenario)


def print_readiness(scenario, days: int = READY_DAYS, every: int = 1) -> None:
    """Each principal's chance of accepting the offer, day by day, were talks standing (the reference
    engine at the scenario's point values): whether the parties are ready long before the deal, and
    three parts of the margin (7.5): the mediators' pressure, the hurt, and the audience costs of
    accepting (the weight times the commitment stock, which casualties feed in a war)."""
    import dataclasses

    from sim.model.reference import ReferenceModel

    first = ReferenceModel(scenario, replicate=0, days=days)
    spec = first.spec
    pair = [int(v) for v in spec.principals]
    if min(pair) < 0 or spec.settle_move < 0:
        return
    parts = np.zeros((READY_RUNS, days, 2, 4))  # P(accept), the mediators' pressure, hurt, audience
    for r in range(READY_RUNS):
        model = first if r == 0 else ReferenceModel(scenario, replicate=r, days=days)
        for day in range(days):
            seen = model.see()
            model.seen = dataclasses.replace(seen, talks=True, in_force=False)
            chance = model.acceptance()
            weight = model.p["mediation.weight"]
            audience = model.p["audience_costs.weight"]
            for q, i in enumerate(pair):
                pressure = model.seen.crisis[i] * weight * model.world.mediation[i]
                parts[r, day, q] = (
                    chance[i],
                    pressure,
                    model.seen.hurt[i],
                    audience * model.world.commitment[i],
                )
            model.step()
    names = " / ".join(spec.actor_ids[i] for i in pair)
    print(f"  readiness (reference engine, point values, {READY_RUNS} runs; were talks standing), {names}:")
    print("    day  P(accept)      mediators' pressure   hurt          audience costs")
    mean = parts.mean(axis=0)
    for day in range(0, days, every):
        cells = [" / ".join(f"{mean[day, q, c]:.2f}" for q in range(2)) for c in range(4)]
        print(f"    {day:3d}  {cells[0]:<14s} {cells[1]:<21s} {cells[2]:<13s} {cells[3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--factors", type=float, nargs="+", default=[1.0, 2.0], help="activity factors")
    parser.add_argument("--belief-priors", type=float, nargs="*", default=[], help="initial beliefs to probe")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--point", action="store_true", help=f"only the bundled scenario against {POINT} (stop 26)"
    )
    only.add_argument(
        "--ladder",
        nargs="+",
        metavar="SCENARIO",
        help="only each scenario's ladder by phase, simulated (its posterior) and recorded",
    )
    only.add_argument(
        "--timing", action="store_true", help="only the bundled scenario: the talks, the deal and readiness"
    )
    only.add_argument(
        "--readiness",
        nargs="+",
        metavar="SCENARIO",
        help="only each scenario's readiness for a deal, every fourth day of its record's window",
    )
    args = parser.parse_args()
    if args.ladder:
        for name in args.ladder:
            print(f"\n{name} ({args.runs:,} runs)")
            print_ladder(load_scenario(name), args.runs)
        return
    if args.readiness:
        for name in args.readiness:
            scenario = load_scenario(name)
            print(f"\n{name}")
            print_readiness(scenario, days=targets(scenario).window[1] + 1, every=4)
        return
    base = load_scenario(BASE)
    if args.timing:
        print(f"{BASE} ({args.runs:,} runs, its posterior)")
        print_timing(base, args.runs)
        return
    if args.point:
        trade_off([base, load_scenario(PROBES / POINT)], args.runs)
        return
    record = own_events(read_event_data(locate(base), base), base)
    a, b = base.record.phases["signalling"]
    part = record[(record["sim_day"] >= a) & (record["sim_day"] <= b)]
    days = b - a + 1
    print(
        f"record, signalling (days {a}-{b}): hostile {(part['goldstein'] < 0).sum() / days:.2f}, "
        f"cooperative {(part['goldstein'] > 0).sum() / days:.2f} a day (the scenario's actors)"
    )
    scenarios = [base] + [load_scenario(PROBES / name) for name in VARIANTS]
    for scenario in scenarios[:2]:
        for factor in args.factors:
            probe(scenario, args.runs, factor)
    probe(scenarios[2], args.runs, 2.0)
    later = load_scenario(PROBES / LATER)
    for factor in (1.0, 2.0):
        probe(later, args.runs, factor)
    for prior in args.belief_priors:
        print(f"\n(initial belief in others' resolve {prior:g} instead of 0.5)", end="")
        with belief_prior(prior):
            probe(base, args.runs, 1.0)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    main()
