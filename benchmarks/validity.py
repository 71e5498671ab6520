"""The validity figures of issue "Model 2", printed for a scenario (default: the bundled 2021 one).

    python benchmarks/validity.py [SCENARIO] [--runs 1000] [--draws 50] [--quick]

1. calm without a trigger: P(deal) and P(any material hostile move) in 60 days, scripted events removed;
2. the record's shape and mix over its window: actor shares, phases' daily Goldstein sums against the
   ensemble's 50% band (on the calendar, and aligned on each run's deal), median first moves, median
   deal day, P(clash);
3. robustness: the share of joint +-20% draws of the calibratable mechanism parameters that keep
   "peak by day 10, resolution after a deal, P(clash) <= 10%";
4. duplicating a move or adding a target: change in the actor's daily activity;
5. the knock-out table: each mechanism off, its effect on the headline outputs (95% paired bootstrap).

The figures are reported whatever they are; docs/model.md quotes them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numba
import numpy as np

from sim import load_scenario
from sim.analysis import validity as v
from sim.analysis.fit import simulate
from sim.scenario.loader import bundled_scenarios

DUPLICATE_RUNS = 20  # the duplicate check runs this many times the runs it is given (duplicate_check)


def variant(scenario, raw: dict):
    """A changed copy of `scenario` that finds its files (posterior, record) where the original does,
    as `sim.analysis.replay` keeps a rebased scenario's: a scenario file outside the bundle too."""
    copy = load_scenario(raw)
    copy._folder = scenario._folder
    return copy


def duplicate_check(scenario, actor: str, move: str, runs: int) -> tuple[float, ...]:
    """Activity of `actor` as is, with an exact copy of `move`, and with one more adversary to target,
    each change with the half-width of its 95% interval (the runs' own noise).

    One more actor moves every random stream (they are keyed by the actor count), so the third run is
    an independent sample: at 1,000 runs the noise of a change in a minor actor's activity is about 4%,
    twice the goal. The check therefore runs DUPLICATE_RUNS times the runs it is given.
    """
    raw = scenario.model_dump(mode="json")
    runs = DUPLICATE_RUNS * runs

    def activity(sc) -> np.ndarray:
        sim = simulate(sc, runs)
        i = sim.actor_ids.index(actor)
        return np.bincount(sim.events[sim.events[:, 2] == i, 0], minlength=runs) / sim.days

    def change(other: np.ndarray) -> tuple[float, float]:
        mean = base.mean()
        return float(other.mean() / mean - 1), float(1.96 * (other - base).std() / np.sqrt(runs) / mean)

    base = activity(scenario)
    dup = dict(raw)
    dup["moves"] = {**raw["moves"], f"{move}_copy": raw["moves"][move]}
    dup["actors"] = {
        **raw["actors"],
        actor: {**raw["actors"][actor], "moves": [*raw["actors"][actor]["moves"], f"{move}_copy"]},
    }
    with_copy = change(activity(variant(scenario, dup)))
    extra = dict(raw)
    stranger = {
        "name": "Stranger",
        "role": "kin_state",
        "capability": 0.1,
        "resolve": 0.5,
        "risk_tolerance": 0.5,
        "hawkishness": 0.5,
        "moves": [],
        "exclude_moves": list(raw["roles"]["kin_state"]["moves"]),
    }
    extra["actors"] = {**raw["actors"], "stranger": stranger}
    extra["affinities"] = {**raw["affinities"], "stranger": {actor: -0.5}}
    with_target = change(activity(variant(scenario, extra)))
    return float(base.mean()), *with_copy, *with_target


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="kosovo_2021")
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="fewer runs and draws, for a first look")
    args = ap.parse_args(argv)
    runs, draws = (200, 10) if args.quick else (args.runs, args.draws)
    scenario = load_scenario(args.scenario)
    print(f"{scenario.name}: validity figures ({runs} runs; numba threads {numba.get_num_threads()})")
    start = time.perf_counter()

    c = v.calm(scenario, runs=runs)
    print("\n1. calm without a trigger (scripted events removed, 60 days)")
    print(
        f"   P(deal signed) {c.p_agreement:.1%} (goal <= 5%); P(material hostile move) {c.p_material:.1%} "
        f"(goal <= 10%); {c.events_per_day:.2f} events/day"
    )

    f = v.record_fit(scenario, runs=runs)
    print(f"\n2. the record's shape and mix (days {scenario.record.window[0]}-{scenario.record.window[1]})")
    for actor, (sim_share, rec_share) in f.share.items():
        mark = "ok" if abs(sim_share - rec_share) <= 0.10 else "MISS"
        print(f"   share of events {actor:<14} {sim_share:6.1%}  record {rec_share:6.1%}  {mark}")
    print(f"   actors within +-10 points: {f.shares_within} of {len(f.share)}")
    for name, (rec, q25, q50, q75) in f.phases.items():
        mark = "inside" if q25 <= rec <= q75 else "outside"
        print(
            f"   daily Goldstein sum, {name:<15} record {rec:+6.1f}  "
            f"ensemble 50% band [{q25:+6.1f}, {q75:+6.1f}] (median {q50:+6.1f})  {mark}"
        )
    print(f"   phases inside the 50% band: {f.phases_inside} of {len(f.phases)} (goal >= 4)")
    ranks = ", ".join(f"{name} {share:.0%}" for name, share in f.rank.items())
    print(f"   where the record falls among the runs (share of runs below it; 50% is the middle): {ranks}")
    goal_met = f.twin[4:].sum()
    print(
        f"   a run of the ensemble read as the record has at least 4 of its {len(f.phases)} phases inside "
        f"the bands in {goal_met:.0%} of runs (0..{len(f.phases)} inside: "
        + " ".join(f"{share:.0%}" for share in f.twin)
        + "): the goal's chance were the model the truth"
    )
    if f.aligned:
        print(
            "   the same on each run's own clock (a phase nearer the deal than the trigger moved by the run's"
        )
        print("   deal day less the record's, over the runs with a deal; the others on the calendar):")
        for name, (rec, q25, q50, q75, n, anchor) in f.aligned.items():
            mark = "inside" if q25 <= rec <= q75 else "outside"
            clock = f"on the {anchor}'s clock,"
            print(
                f"   {clock:<22} {name:<15} record {rec:+6.1f}  "
                f"50% band [{q25:+6.1f}, {q75:+6.1f}] (median {q50:+6.1f}; {n} runs)  {mark}"
            )
        print(f"   phases inside the band on their own clocks: {f.aligned_inside} of {len(f.aligned)}")
    for name, (sim_day, rec_day) in f.first_moves.items():
        print(f"   median {name.replace('_', ' ')} day {sim_day:.0f} (record {rec_day:.0f})")
    print(
        f"   median deal day {f.agreement_day[0]:.0f} (record {f.agreement_day[1]}; a run without one counts "
        f"as its last day); deal in {f.p_agreement:.0%} of runs, in those on day {f.agreement_spread[1]:.0f} "
        f"(median), days {f.agreement_spread[0]:.0f}-{f.agreement_spread[2]:.0f} in half of them"
    )
    print(f"   median resolution day {f.resolution_day[0]:.0f} (record {f.resolution_day[1]})")
    print(f"   P(clash) {f.p_clash:.1%} (goal <= 5%)")

    r = v.robustness(scenario, draws=draws, runs=max(runs // 3, 100))
    print(f"\n3. robustness: {r.share_ok:.0%} of {r.draws} joint +-20% draws keep the shape (goal >= 90%)")
    bad = [row for row in r.rows if not row["ok"]]
    for row in bad[:5]:
        print("   failed draw: " + ", ".join(f"{k} {val:.2f}" for k, val in row.items() if k != "ok"))

    actor = next(
        (a for a, x in scenario.actors.items() if x.role == "kin_state"), next(iter(scenario.actors))
    )
    base, copy, copy_ci, target, target_ci = duplicate_check(scenario, actor, "criticize", runs)
    print(
        f"\n4. {actor}'s events per day: {base:.4f} ({DUPLICATE_RUNS * runs:,} runs); with a copy of "
        f"'criticize' {copy:+.1%} (95% +-{copy_ci:.1%}); with one more adversary {target:+.1%} "
        f"(95% +-{target_ci:.1%}) (goal: within 2%)"
    )

    print("\n5. knock-outs (each mechanism off; * = 95% paired bootstrap interval excludes no change)")
    rows = v.knockouts(scenario, runs=runs)
    names = list(v.HEADLINES)
    width = max(len(k.mechanism) for k in rows) + 1  # the names' column: every row lines up
    print("   " + f"{'mechanism off':<{width}}" + "".join(f"{v.HEADLINES[n][:18]:>20}" for n in names))
    print("   " + f"{'(base)':<{width}}" + "".join(f"{rows[0].base[n]:>19.3f} " for n in names))
    for k in rows:
        cells = "".join(f"{k.value[n]:>19.3f}{'*' if n in k.significant else ' '}" for n in names)
        print(f"   {k.mechanism:<{width}}{cells}")
    nominal = [k.mechanism for k in rows if not k.significant]
    print(f"   mechanisms with no significant effect: {', '.join(nominal) or 'none'}")
    if nominal:
        library = {name: load_scenario(name) for name in bundled_scenarios()}
        for mechanism, hits in v.elsewhere(scenario, nominal, library, runs=runs).items():
            if not hits:
                print(f"   {mechanism}: no significant effect on any other episode of the library either")
            for name, k in hits:
                changes = ", ".join(
                    f"{v.HEADLINES[n]} {k.base[n]:.3f} -> {k.value[n]:.3f}" for n in k.significant
                )
                print(f"   {mechanism}: acts on {name} (switched off: {changes})")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
