"""The six behaviours of the model brief, each with the control that must break it.

Ensembles on the bundled scenarios with their own seeds, so every comparison
is paired run by run (common random numbers); one-sided tests at the 1% level,
so a pass is not luck and a regression shows. Each behaviour is asserted
twice: as the brief states it, and under a knock-out of the mechanism (or a
placebo) that must make it disappear, so the test could fail. Durations count
a run that never resolves as lasting the whole horizon.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import load_scenario, run

RUNS = 1000
ALPHA = 0.01


def ensemble(name: str, runs: int = RUNS, overrides=None, **kw):
    return run(name, runs=runs, overrides=overrides, events="all", **kw)


def durations(result) -> np.ndarray:
    o = result.outcomes
    return np.where(o["outcome"] == "resolved", o["resolution_day"].fillna(0), result.days)


def clashes(result) -> np.ndarray:
    return (result.outcomes["outcome"] == "armed clash").to_numpy()


def fisher_more(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value that a's share of True exceeds b's."""
    ka, kb = int(a.sum()), int(b.sum())
    return stats.fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]], alternative="greater").pvalue


def paired_greater(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided p-value that a exceeds b, run by run (Wilcoxon signed rank; ties count as no change)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if not np.any(d != 0):
        return 1.0
    return stats.wilcoxon(d, alternative="greater", zero_method="zsplit").pvalue


@pytest.fixture(scope="module")
def base():
    return ensemble("kosovo_2021")


# ---------------------------------------------------------------- 1. the 2021 shape


def test_1_rise_and_peak_within_ten_days(base):
    """Control (placebo): the same runs without the trigger (no scripted events) neither rise nor
    peak early."""
    raw = load_scenario("kosovo_2021").model_dump(mode="json")
    raw["events"] = []
    calm = ensemble(raw)
    day3 = [r.trajectories.query("day == 3").sort_values("run")["tension"].to_numpy() for r in (base, calm)]
    assert paired_greater(*day3) < ALPHA, "tension rises after the plate rule and the deployment"
    assert np.median(base.outcomes["peak_day"]) <= 10, "runs peak within the first ten days"
    assert np.median(calm.outcomes["peak_day"]) > 10


def test_1_an_armed_clash_is_rare(base):
    """Control (knock-out): without mediation the crisis drags on and clashes become more frequent, so
    the rarity is the model's doing, not the ensemble's size."""
    k = int(clashes(base).sum())
    assert stats.binomtest(k, RUNS, 0.05, alternative="less").pvalue < ALPHA, "an armed clash is rare"
    knocked = ensemble("kosovo_2021", overrides={"mechanisms.mediation.weight": 0.0})
    assert fisher_more(clashes(knocked), clashes(base)) < ALPHA


def test_1_an_armed_clash_is_possible(base):
    assert clashes(base).sum() > 0, "possible: some runs end in a clash"


def signing_days(result) -> dict[int, int]:
    ev = result.events
    signed = ev[ev["kind"] == "settlement"].groupby("run")["day"].min()
    return {int(r): int(d) for r, d in signed.items() if d + 7 < result.days}


def test_1_tension_falls_after_the_mediated_agreement_and_not_without_it(base):
    """The deal, not the passage of time, lowers tension: it falls in the week after signing.

    Control (placebo): the same runs with the EU unable to mediate, over the same calendar days
    (each run's twin signing day), show no such fall, so the fall is not the crisis running down.
    """
    no_talks = ensemble("kosovo_2021", overrides={"actors.eu.exclude_moves": ["mediate"]})
    days = signing_days(base)
    assert len(days) > RUNS / 2, "most runs reach a deal"
    a = base.trajectories.set_index(["run", "day"])["tension"]
    b = no_talks.trajectories.set_index(["run", "day"])["tension"]
    fall = np.array([a[(r, d)] - a[(r, d + 7)] for r, d in days.items()])
    placebo = np.array([b[(r, d)] - b[(r, d + 7)] for r, d in days.items()])
    assert paired_greater(fall, np.zeros_like(fall)) < ALPHA
    assert paired_greater(placebo, np.zeros_like(placebo)) > ALPHA


# ---------------------------------------------------------------- 2-5. the what-ifs


def test_2_without_eu_mediation_longer_and_more_clashes(base):
    no_eu = ensemble("kosovo_2021_no_eu_mediation")
    assert paired_greater(durations(no_eu), durations(base)) < ALPHA
    assert fisher_more(clashes(no_eu), clashes(base)) < 0.05


def test_2_control_taking_the_eu_out_after_the_crisis_changes_nothing():
    raw = load_scenario("kosovo_2021").model_dump(mode="json")
    moves = load_scenario("kosovo_2021_no_eu_mediation").actors["eu"].exclude_moves
    raw["events"].append({"day": 55, "set": {"actors.eu.exclude_moves": list(moves)}})
    late = ensemble(raw, runs=400)
    plain = ensemble("kosovo_2021", runs=400)
    assert paired_greater(durations(late), durations(plain)) > ALPHA


def serbian_hostility(result) -> np.ndarray:
    ev = result.events
    hostile = ev[(ev["actor"] == "serbia") & (ev["goldstein"] < 0)]
    per_run = hostile.groupby("run")["goldstein"].sum().reindex(range(len(result.outcomes)), fill_value=0)
    return -per_run.to_numpy()


@pytest.mark.parametrize("knocked", [False, True])
def test_3_stronger_russian_backing_makes_serbia_escalate_more(knocked):
    over = {"mechanisms.alliance.weight": 0.0, "mechanisms.deterrence.weight": 0.0} if knocked else None
    plain = ensemble("kosovo_2021", runs=600, overrides=over)
    backed = ensemble("kosovo_2021_russia_backs_serbia", runs=600, overrides=over)
    p = paired_greater(serbian_hostility(backed), serbian_hostility(plain))
    # control: with the alliance and balance-of-strength terms off, a patron's backing has no channel
    # into Serbia's choices, and the escalation the brief describes disappears
    assert (p < ALPHA) is not knocked


@pytest.mark.parametrize("knocked", [False, True])
def test_4_without_nato_kfor_deterrence_more_clashes(base, knocked):
    # KFOR prevents clashes two ways: its patrols absorb part of the accident hazard, and NATO's
    # strength on Kosovo's side deters a deliberate attack
    over = {"mechanisms.accidents.hazard": 0.0, "mechanisms.deterrence.weight": 0.0} if knocked else None
    plain = ensemble("kosovo_2021", overrides=over) if knocked else base
    no_kfor = ensemble("kosovo_2021_no_kfor", overrides=over)
    if not knocked:
        assert fisher_more(clashes(no_kfor), clashes(plain)) < ALPHA
    else:  # control: with both channels off, taking KFOR out makes no significant difference
        assert fisher_more(clashes(no_kfor), clashes(plain)) > 0.05


def test_5_early_police_withdrawal_ends_the_crisis_sooner(base):
    early = ensemble("kosovo_2021_early_police_withdrawal")
    assert paired_greater(durations(base), durations(early)) < ALPHA


def test_5_control_without_demands_met_it_does_not(base):
    """Knock-out: the crisis ends sooner because the roadblocks and Serbia's alert, kept up to get the
    police out, are lifted once it has gone (docs/model.md 7.5, demands met); with that off they wait
    for a deal, and the early withdrawal no longer shortens the crisis."""
    off = {"mechanisms.bargaining.demands_met": 0.0}
    plain = ensemble("kosovo_2021", overrides=off)
    early = ensemble("kosovo_2021_early_police_withdrawal", overrides=off)
    assert paired_greater(durations(plain), durations(early)) > ALPHA


def test_5_control_a_withdrawal_late_in_the_aftermath_does_not():
    raw = load_scenario("kosovo_2021_early_police_withdrawal").model_dump(mode="json")
    for event in raw["events"]:
        if event.get("day") == 3:
            event["day"] = 45
    late = ensemble(raw, runs=400)
    base = ensemble("kosovo_2021", runs=400)
    assert paired_greater(durations(base)[:400], durations(late)) > ALPHA


@pytest.mark.parametrize("shift", [0.1, 0.2, 0.3])
def test_6_more_hawkish_actors_never_lower_mean_tension(shift):
    sc = load_scenario("kosovo_2021")
    hawkish = {
        f"actors.{a}.hawkishness": min(1.0, actor.hawkishness + shift) for a, actor in sc.actors.items()
    }
    plain = ensemble("kosovo_2021", runs=600)
    more = ensemble("kosovo_2021", runs=600, overrides=hawkish)
    a = plain.trajectories.groupby("run")["tension"].mean().to_numpy()
    b = more.trajectories.groupby("run")["tension"].mean().to_numpy()
    assert b.mean() >= a.mean()
    assert paired_greater(a, b) > ALPHA


def test_6_control_hawkishness_acts_through_the_disposition_term():
    sc = load_scenario("kosovo_2021")
    off = {"mechanisms.disposition.hawkishness": 0.0}
    hawkish = {**off, **{f"actors.{a}.hawkishness": 1.0 for a in sc.actors}}
    plain = ensemble("kosovo_2021", runs=300, overrides=off)
    more = ensemble("kosovo_2021", runs=300, overrides=hawkish)
    a = plain.trajectories.groupby("run")["tension"].mean().to_numpy()
    b = more.trajectories.groupby("run")["tension"].mean().to_numpy()
    np.testing.assert_array_equal(a, b)  # with its weight at zero, hawkishness changes nothing
