"""The scenario files kept in docs/ (candidates and probes, docs/model.md 8.1-8.2) stay loadable, and
the probes do what their comments say: the talks probe opens no talks before the record's day and
opens them on it; the later-third-parties probe keeps the record's order (a highest alert, then
peacekeeping, then talks); the phases point trades the ladder's mix for the phases."""

from pathlib import Path

import numpy as np
import pytest

from sim import load_scenario
from sim.analysis import validity as v
from sim.analysis.fit import simulate

DOCS = Path(__file__).resolve().parent.parent / "docs"
KEPT = sorted([*DOCS.glob("candidates/*/*.yaml"), *DOCS.glob("probes/*.yaml")])


@pytest.mark.parametrize("path", KEPT, ids=lambda p: p.stem)
def test_kept_scenario_files_load(path):
    scenario = load_scenario(path)
    assert scenario.actors


def _first(sim, move: str, runs: int, days: int) -> np.ndarray:
    """Each run's first day of `move` by anyone (`days` where it never happens)."""
    rows = sim.events[sim.events[:, 4] == list(sim.moves).index(move)]
    first = np.full(runs, days)
    np.minimum.at(first, rows[:, 0], rows[:, 1])
    return first


def _first_mediation(scenario, runs=200, days=12) -> np.ndarray:
    return _first(simulate(scenario, runs, days=days), "mediate", runs, days)


def test_the_talks_probe_opens_the_talks_on_its_day_only():
    probe = load_scenario(DOCS / "probes" / "kosovo_2021_talks_day_9.yaml")
    (scripted,) = [e for e in probe.events if e.move == "mediate"]
    first = _first_mediation(probe)
    assert (first == scripted.day).all()
    # control: the bundled scenario's mediator opens talks earlier in some runs, which the probe removes
    assert (_first_mediation(load_scenario("kosovo_2021")) < scripted.day).mean() > 0.2


def _sequence(scenario, runs=200, days=20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sim = simulate(scenario, runs, days=days)
    return tuple(
        _first(sim, move, runs, days) for move in ("raise_alert_high", "provide_peacekeeping", "mediate")
    )


def test_the_later_third_parties_probe_keeps_the_records_order():
    probe = load_scenario(DOCS / "probes" / "kosovo_2021_third_parties_later.yaml")
    alert, peacekeeping, talks = _sequence(probe)
    stepped_in = peacekeeping < 20
    assert stepped_in.any() and (talks < 20).any()
    # a posture taken up today is seen tomorrow: peacekeeping after a highest alert, talks after peacekeeping
    assert (peacekeeping[stepped_in] > alert[stepped_in]).all()
    assert (talks[talks < 20] > peacekeeping[talks < 20]).all()
    # control: in the bundled scenario the third parties step in before any highest alert in many runs
    alert, peacekeeping, talks = _sequence(load_scenario("kosovo_2021"))
    assert (peacekeeping < alert).mean() > 0.2
    assert (talks <= peacekeeping).mean() > 0.2


def test_the_phases_point_reaches_the_phases_with_coercion_the_record_lacks():
    """docs/model.md 8.2 (stop 26): the point searched for the phases alone brings more of them inside
    the band than the bundled fit, and does it with coercion in the intervention phase, where the
    record has none; the bundled fit is the control for both."""
    point = load_scenario(DOCS / "probes" / "kosovo_2021_phases_point.yaml")
    bundled = load_scenario("kosovo_2021")
    assert v.record_fit(point, runs=300).phases_inside > v.record_fit(bundled, runs=300).phases_inside
    coercion = {}
    for scenario in (point, bundled):
        ours, theirs = v.ladder_by_phase(scenario, runs=300)["intervention"]
        assert theirs[2] == 0.0  # days 7-10 of 2021: no coercive move by the scenario's actors
        coercion[scenario.name] = ours[2]
    assert coercion[point.name] > 1.0
    assert coercion[bundled.name] < 0.5
