"""Calibration by ABC-SMC: a posterior over the calibratable parameters, a calibrated scenario, runs from it.

A small calibration (population 40, 2 generations) keeps the test quick; the
full one (`sim calibrate`, defaults) is measured in the README.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.analysis.calibrate import RECORD_2021, calibrate, observed_summary, simulated_summary
from sim.analysis.eventdata import read_event_data
from sim.analysis.sensitivity import calibratable
from sim.ensemble.posterior import draw_posterior

from .conftest import REPO, SCENARIOS

DATA = REPO / "sim" / "data" / "kosovo_2021_events.csv"


def test_the_target_comes_from_the_record():
    sc = load_scenario("kosovo_2021")
    obs = observed_summary(read_event_data(DATA, sc), RECORD_2021)
    assert obs["agreement_day"] == 10 and obs["first_alert_day"] == 3 and obs["p_clash"] == 0
    assert obs["goldstein_onset"] < 0 and obs["goldstein_signalling"] < 0  # hostile phases
    assert obs["goldstein_intervention"] > 0 and obs["goldstein_implementation"] > 0  # cooperative ones
    sim = simulated_summary(sc, {}, runs=200, days=33)
    assert set(sim) == set(obs)
    assert 0 <= sim["p_clash"] < 0.2 and sim["goldstein_onset"] < 0


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    sc = load_scenario("kosovo_2021")
    cal = calibrate(sc, str(SCENARIOS / "kosovo_2021.yaml"), DATA, population=40, generations=2, runs=20)
    out = tmp_path_factory.mktemp("cal") / "out"
    cal.save(out)
    return cal, out


def test_the_posterior_covers_every_calibratable_parameter_within_its_prior(calibration):
    cal, out = calibration
    ranges = calibratable()
    post = pd.read_csv(out / "posterior.csv")
    assert len(post) == 40 and post["weight"].sum() == pytest.approx(1.0)
    for name, (low, high) in ranges.items():
        assert post[name].between(low, high).all()
    summary = pd.read_csv(out / "posterior_summary.csv")
    assert (summary["q05"] <= summary["median"]).all() and (summary["median"] <= summary["q95"]).all()
    assert cal.generations == 2 and cal.evaluations >= 80
    for name in ("calibration.png", "posterior.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_the_calibrated_scenario_extends_the_base_with_the_medians(calibration):
    cal, out = calibration
    path = out / "kosovo_2021_calibrated.yaml"
    text = path.read_text()
    assert text.startswith("# Calibrated by ABC-SMC")
    sc = load_scenario(path)
    base = load_scenario("kosovo_2021")
    medians = cal.summary().set_index("parameter")["median"]
    assert sc.mechanisms.mediation.weight == pytest.approx(medians["mechanisms.mediation.weight"], abs=1e-4)
    assert sc.actors == base.actors and sc.events == base.events  # only the mechanisms changed


def test_posterior_draws_are_per_replicate_and_batch_invariant(calibration, tmp_path):
    _, out = calibration
    draws = draw_posterior(out / "posterior.csv", np.arange(500), seed=7)
    alone = draw_posterior(out / "posterior.csv", np.array([123]), seed=7)
    for name, values in draws.items():
        assert values[123] == alone[name][0]
    post = pd.read_csv(out / "posterior.csv")
    name = "mechanisms.mediation.weight"
    assert set(np.round(draws[name], 8)) <= set(np.round(post[name], 8))
    batch = run("kosovo_2021", runs=30, posterior=out / "posterior.csv")
    single = run("kosovo_2021", replicate=17, posterior=out / "posterior.csv")
    pd.testing.assert_frame_equal(
        batch.outcomes[batch.outcomes["run"] == 17].reset_index(drop=True), single.outcomes
    )


def test_cli_run_with_a_posterior_and_a_bad_one(cli, calibration, tmp_path):
    _, out = calibration
    code, _, err = cli("run", "--runs", "20", "--posterior", out / "posterior.csv", "--out", tmp_path / "r")
    assert code == 0, err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    code, _, err = cli("run", "--posterior", bad, "--out", tmp_path / "r2")
    assert code == 2 and "mechanisms" in err and not (tmp_path / "r2").exists()


def test_full_calibration_meets_the_record(cli, tmp_path):
    """Issue acceptance: `sim calibrate` with its defaults, then 1,000 runs of the calibrated scenario.

    Takes about 1.5 minutes; pyabc is seeded, so the posterior is the same every time.
    """
    import json

    code, _, err = cli("calibrate", "--out", tmp_path / "cal")
    assert code == 0, err
    manifest = json.loads((tmp_path / "cal" / "manifest.json").read_text())
    assert manifest["seconds"] < 600 and manifest["generations"] == 6
    calibrated = load_scenario(tmp_path / "cal" / "kosovo_2021_calibrated.yaml")
    summary = simulated_summary(calibrated, {}, runs=1000, days=60)
    assert 1 <= summary["first_alert_day"] <= 5
    assert 0 <= summary["peak_day"] <= 8
    assert 7 <= summary["agreement_day"] <= 14
    assert summary["p_clash"] < 0.10


def test_explain_replays_a_run_that_drew_from_a_posterior(calibration, tmp_path):
    from sim.analysis.explain import drivers

    _, out = calibration
    result = run("kosovo_2021", runs=6, days=30, posterior=out / "posterior.csv")
    result.save(tmp_path / "r")
    assert (tmp_path / "r" / "posterior.csv").exists()
    _, parts = drivers(tmp_path / "r", run=4)
    traj = pd.read_csv(tmp_path / "r" / "trajectories.csv")
    column = "tension_kosovo-kosovo_serbs"
    k = [c for c in traj.columns if c.startswith("tension_")].index(column)
    np.testing.assert_allclose(parts[:, :, k].sum(axis=1), traj.loc[traj["run"] == 4, column], atol=1e-4)
