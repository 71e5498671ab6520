"""Calibration by ABC-SMC: a posterior over the calibratable parameters, a calibrated scenario, runs from it.

Small calibrations (population 40 or 60, 2 or 3 generations) keep the tests quick
on a busy machine, and none asserts how long anything took; the full one
(`sim calibrate`, defaults) is measured in the README.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario, run
from sim.analysis.abc import episode_stats, free_parameters, misfit, observed_stats
from sim.analysis.calibrate import calibrate
from sim.ensemble.posterior import draw_posterior, point_values
from sim.scenario.record import targets

from .conftest import SCENARIOS

DATA = SCENARIOS / "records" / "kosovo_2021_events.csv"


def test_the_target_comes_from_the_record():
    sc = load_scenario("kosovo_2021")
    goal = targets(sc)
    obs = observed_stats(sc, goal, 40)
    assert obs["agreement_day"] == 10 and obs["first_move.first_alert"] == 3 and obs["p_clash"] == 0
    assert obs["goldstein.onset"] < 0 and obs["goldstein.signalling"] < 0  # hostile phases
    assert obs["goldstein.intervention"] > 0 and obs["goldstein.implementation"] > 0  # cooperative ones
    assert obs["share.serbia"] > obs["share.kosovo"] > obs["share.albania"]
    assert obs["calm.material"] == 0 and obs["calm.agreement"] == 0  # no trigger, no crisis
    sim = episode_stats(sc, goal, {}, runs=100, days=40)
    assert set(sim) == set(obs)
    assert 0 <= sim["p_clash"] <= 1 and sum(
        v for k, v in sim.items() if k.startswith("share.")
    ) == pytest.approx(1)


def test_a_different_record_changes_the_target(tmp_path):
    """Control: the target is read from the record, not written in the code."""
    sc = load_scenario("kosovo_2021")
    data = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    data.loc[data["actor"] == "SRB", "actor"] = "KOS"
    other = tmp_path / "other.csv"
    data.to_csv(other, index=False)
    from sim.scenario.record import read_event_data

    a, b = targets(sc), targets(sc, read_event_data(other, sc))
    assert a.actor_share["serbia"] > 0.3 and b.actor_share["serbia"] == 0.0


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    sc = load_scenario("kosovo_2021")
    cal = calibrate(sc, str(SCENARIOS / "kosovo_2021.yaml"), DATA, population=40, generations=2, runs=20)
    out = tmp_path_factory.mktemp("cal") / "out"
    cal.save(out)
    return cal, out


def test_the_posterior_covers_every_calibratable_parameter_within_its_prior(calibration):
    cal, out = calibration
    ranges = free_parameters([cal.scenario])
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
    points = point_values(cal.posterior)  # the medians to two significant digits, as shipped
    assert sc.mechanisms.mediation.weight == points["mechanisms.mediation.weight"]
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


def test_calibration_learns_from_the_record(cli, tmp_path):
    """`sim calibrate` runs its generations, narrows the prior and moves towards the record.

    A smaller calibration than the defaults (60 particles, 4 generations, 20 runs per
    evaluation: about a tenth of the work), so the suite stays quick on a busy machine;
    what it checks is the same. No time cap can cut it short (--max-minutes 10000), so
    the outcome never depends on the machine's speed; pyabc is seeded, so the posterior
    is the same every time.
    """
    import json

    options = ["--population", "60", "--generations", "4", "--runs", "20", "--max-minutes", "10000"]
    code, _, err = cli("calibrate", *options, "--out", tmp_path / "cal")
    assert code == 0, err
    manifest = json.loads((tmp_path / "cal" / "manifest.json").read_text())
    assert manifest["generations"] == manifest["generations_asked"] == 4
    assert "time cap" not in manifest["reason"]
    # it learnt something: the posterior's 90% intervals are narrower than the uniform prior's (0.9)
    share = pd.read_csv(tmp_path / "cal" / "posterior_summary.csv")["interval_share"]
    assert share.median() < 0.85 and (share < 0.9).sum() >= 15
    # and it moved towards the record: the calibrated point fits it better than the prior's centre
    # (the same 300 replicates each; the control a calibration that learnt nothing would not pass)
    base = load_scenario("kosovo_2021")
    goal = targets(base)
    days = goal.window[1] + 8
    observed = observed_stats(base, goal, days)
    posterior = pd.read_csv(tmp_path / "cal" / "posterior.csv")
    calibrated = point_values(posterior)
    centre = {k: (lo + hi) / 2 for k, (lo, hi) in free_parameters([base]).items()}
    fit = {
        name: misfit(observed, episode_stats(base, goal, p, runs=300, days=days))
        for name, p in (("calibrated", calibrated), ("centre", centre))
    }
    assert fit["calibrated"] < fit["centre"], fit


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


# ------------------------------------------------------------- issue 9

BAD_SIZES = {
    "population 0": (["--population", "0"], "--population: expected a whole number of at least 2, found 0"),
    "population 1": (["--population", "1"], "--population: expected a whole number of at least 2"),
    "negative population": (["--population", "-5"], "--population: expected a whole number"),
    "generations 0": (["--generations", "0"], "--generations: expected a whole number of at least 1"),
    "runs 0": (["--runs", "0"], "--runs: expected a whole number of at least 1, found 0"),
    "no time": (["--max-minutes", "0"], "--max-minutes: expected minutes above 0, found 0"),
    "negative time": (["--max-minutes", "-1"], "--max-minutes: expected minutes above 0, found -1"),
    "NaN time": (["--max-minutes", "nan"], "--max-minutes: expected minutes above 0, found nan"),
    "fix without a value": (["--fix", "mechanisms.activity.crisis"], "--fix: expected PATH=VALUE"),
    "fix a stance": (["--fix", "actors.serbia.resolve=0.5"], "--fix: expected a free parameter"),
    "fix a fixed parameter": (["--fix", "mechanisms.rationality=1"], "--fix: expected a free parameter"),
    "fix outside the prior": (
        ["--fix", "mechanisms.activity.crisis=5"],
        "--fix: expected mechanisms.activity.crisis from 0 to 2, found 5",
    ),
    "fix to text": (["--fix", "mechanisms.activity.crisis=high"], "found 'high'"),
    "fix to true": (["--fix", "mechanisms.activity.crisis=true"], "found True"),
    "free without a range": (["--free", "mechanisms.bargaining.hurt_scale"], "expected PATH=LOW:HIGH"),
    "free a stance": (["--free", "actors.serbia.resolve=0:1"], "--free: expected a mechanism parameter"),
    "free a whole number": (
        ["--free", "mechanisms.outcome.resolution_window=1:9"],
        "--free: expected a mechanism parameter that takes any number",
    ),
    "free a calibratable one": (["--free", "mechanisms.activity.base=0:1"], "is already fitted (prior"),
    "free one number": (["--free", "mechanisms.bargaining.hurt_scale=12"], "found '12'"),
    "free backwards": (["--free", "mechanisms.bargaining.hurt_scale=30:2"], "with LOW below HIGH"),
    "free outside the field": (["--free", "mechanisms.bargaining.hurt_scale=0:30"], "both finite numbers"),
    "free as text": (["--free", "mechanisms.bargaining.hurt_scale=low:high"], "found 'low:high'"),
    "free to nan": (["--free", "mechanisms.bargaining.hurt_scale=nan:3"], "found 'nan:3'"),
    "unknown tolerance": (["--tolerance", "calmness=0.01"], "--tolerance: expected one of first_move"),
    "zero tolerance": (["--tolerance", "calm=0"], "--tolerance: expected calm above 0, found 0"),
    "text tolerance": (["--tolerance", "calm=tight"], "--tolerance: expected calm above 0, found 'tight'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SIZES))
def test_calibrate_refuses_nonsense_sizes_before_any_work(case, cli, tmp_path):
    options, expected = BAD_SIZES[case]
    code, out, err = cli("calibrate", *options, "--out", tmp_path / "cal")
    assert code == 2 and expected in err and err.startswith("sim: error: ") and err.count("\n") == 1, err
    assert code == 2 and out == "" and not (tmp_path / "cal").exists()


def _posterior(path, text):
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


BAD_POSTERIORS = {
    "empty": (b"", "empty file"),
    "binary": (bytes(range(256)) * 4, "cannot read as CSV"),
    "header only": ("mechanisms.rationality,weight\n", "expected at least one row"),
    "NaN": (
        "mechanisms.rationality,weight\nnan,1\n",
        "mechanisms.rationality: expected finite numbers, found",
    ),
    "text": ("mechanisms.rationality,weight\nhigh,1\n", "found 'high' in row 1"),
    "rationality -100": (
        "mechanisms.rationality,weight\n-100,1\n",
        "mechanisms.rationality: expected finite",
    ),
    "negative decay": (
        "mechanisms.tension.decay,weight\n-0.5,1\n",
        "mechanisms.tension.decay: expected finite",
    ),
    "negative weight": (
        "mechanisms.rationality,weight\n1,2\n1.5,-1\n",
        "weight: expected weights of 0 or more",
    ),
    "weights all zero": ("mechanisms.rationality,weight\n1,0\n", "weight: expected weights of 0 or more"),
    "NaN weight": ("mechanisms.rationality,weight\n1,nan\n", "weight: expected finite numbers"),
    # a row no replicate would draw (weight 0) is still a bad file
    "a bad row never drawn": ("mechanisms.rationality,weight\n1,1\n-100,0\n", "found -100 at position 1"),
    "unknown parameter": ("mechanisms.rationalty,weight\n1,1\n", "mechanisms.rationalty: not a parameter"),
}


@pytest.mark.parametrize("case", sorted(BAD_POSTERIORS))
def test_run_refuses_a_bad_posterior_file_naming_it(case, cli, tmp_path):
    content, expected = BAD_POSTERIORS[case]
    path = _posterior(tmp_path / "post.csv", content)
    code, _, err = cli("run", "--runs", "5", "--days", "10", "--posterior", path, "--out", tmp_path / "r")
    assert code == 2 and err.startswith(f"sim: error: {path}: ") and expected in err, err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_a_posterior_that_is_not_a_regular_file_is_refused_without_blocking(cli, tmp_path):
    import os

    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)  # reading it would block for ever
    for path in (fifo, tmp_path):
        code, _, err = cli("run", "--runs", "2", "--days", "5", "--posterior", path, "--out", tmp_path / "r")
        assert code == 2 and "expected a regular file" in err, err
    good = _posterior(tmp_path / "good.csv", "mechanisms.rationality,weight\n1,1\n2,1\n")  # control
    code, _, err = cli("run", "--runs", "2", "--days", "5", "--posterior", good, "--out", tmp_path / "r")
    assert code == 0, err


def test_calibration_shows_progress_and_says_loudly_when_the_time_cap_stopped_it(cli, tmp_path):
    import json

    code, _, err = cli(
        "calibrate",
        "--population",
        "6",
        "--generations",
        "3",
        "--runs",
        "2",
        "--max-minutes",
        "0.0001",
        "--out",
        tmp_path / "cal",
    )
    assert code == 0, err
    lines = err.splitlines()
    assert "calibrate: generation 1 of 3: sampling 6 particles" in lines
    assert any(line.startswith("calibrate: generation 1 of 3 done: 6 accepted of") for line in lines)
    assert "generation 2 of 3" not in err  # the cap stopped it between generations
    warning = [line for line in lines if line.startswith("sim: warning: the calibration STOPPED EARLY")]
    assert len(warning) == 1 and "time cap of 0.006 s was reached after 1 of 3 generations" in warning[0]
    manifest = json.loads((tmp_path / "cal" / "manifest.json").read_text())
    assert manifest["stopped_early"] is True and manifest["generations"] == 1
    assert manifest["generations_asked"] == 3 and "time cap" in manifest["reason"]
    text = (tmp_path / "cal" / "kosovo_2021_calibrated.yaml").read_text()
    assert "\n# STOPPED EARLY: the time cap of 0.006 s was reached after 1 of 3 generations." in text
    load_scenario(tmp_path / "cal" / "kosovo_2021_calibrated.yaml")  # still a valid scenario


def test_a_calibration_that_ran_its_generations_says_why_it_stopped(calibration):
    # Control for the time cap: the module's calibration ran both of its generations.
    import json

    _, out = calibration
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generations"] == manifest["generations_asked"] == 2
    assert "time cap" not in manifest["reason"] and manifest["reason"]
    header = (out / "kosovo_2021_calibrated.yaml").read_text().split("\nname:")[0]
    assert ("STOPPED EARLY" in header) == manifest["stopped_early"]


def test_why_it_stopped():
    from sim.analysis.calibrate import SETTLED, _why_it_stopped

    early, why = _why_it_stopped(["Maximum walltime"], 3, 6, 480.0, None)
    assert early and why == "the time cap of 8 min was reached after 3 of 6 generations"
    early, why = _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, 0.3)
    assert early and "still narrowing (its 90% intervals shrank 30% on average" in why
    early, why = _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, SETTLED / 2)
    assert not early and "the posterior has settled" in why
    # widening counts as changing too (a posterior whose weights jumped to other particles)
    early, why = _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, -0.14)
    assert early and "still changing (its 90% intervals widened 14% on average" in why
    early, why = _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, -SETTLED / 2)
    assert not early and "the posterior has settled" in why
    early, why = _why_it_stopped(["Minimum epsilon"], 2, 6, 480.0, 0.0)
    assert early and why == "pyabc stopped after 2 of 6 generations (Minimum epsilon)"
    # settled, but on few particles: said, without calling it early; control: enough particles, not said
    early, why = _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, 0.0, 17.0, 400)
    assert not early and "effective sample size 17 of 400), so read its intervals as rough" in why
    assert "rough" not in _why_it_stopped(["Maximum number of generations"], 6, 6, 480.0, 0.0, 200.0, 400)[1]


def test_the_heaviest_particles_are_run_again_on_fresh_runs(calibration):
    """The recheck reproduces the fit's own distance on the scenario's seed (control: the same seed gives
    the same number, so the comparison is like for like) and measures it afresh on two other seeds,
    which give other numbers; the manifest keeps them all."""
    cal, out = calibration
    rows = cal.recheck
    assert len(rows) == 5
    assert [r["weight"] for r in rows] == sorted((r["weight"] for r in rows), reverse=True)
    assert rows[0]["weight"] == pytest.approx(cal.posterior["weight"].max())
    goal = targets(cal.scenario)
    observed = observed_stats(cal.scenario, goal, cal.days)
    top = cal.posterior.sort_values("weight", ascending=False, kind="stable").iloc[0]
    params = {n: float(top[n]) for n in cal.posterior.columns if n != "weight"}
    again = misfit(observed, episode_stats(cal.scenario, goal, params, runs=20, days=cal.days))
    assert again == rows[0]["distance"]
    other = cal.scenario.model_copy(update={"seed": cal.scenario.seed + 2})
    assert misfit(observed, episode_stats(other, goal, params, runs=20, days=cal.days)) == rows[0]["fresh_2"]
    assert any(r["fresh_1"] != r["distance"] for r in rows) and any(
        r["fresh_1"] != r["fresh_2"] for r in rows
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recheck"] == rows
    assert "on fresh runs with two other seeds" in cal.recheck_line()


def test_a_fixed_parameter_is_held_and_written_as_a_constant(cli, tmp_path):
    """--fix holds a parameter at its value in every evaluation: the posterior carries it as a constant
    column, the summary leaves it out, the calibrated scenario and the manifest name it (control: a
    free parameter of the same fit varies across the particles)."""
    out = tmp_path / "cal"
    code, _, err = cli(
        "calibrate", "--population", "20", "--generations", "1", "--runs", "5",
        "--fix", "mechanisms.activity.crisis=0", "--fix", "mechanisms.escalation.shared=0.25",
        "--tolerance", "calm=0.01", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    post = pd.read_csv(out / "posterior.csv")
    assert (post["mechanisms.activity.crisis"] == 0).all()
    assert (post["mechanisms.escalation.shared"] == 0.25).all()
    assert post["mechanisms.activity.base"].nunique() > 1  # control: a free one was sampled
    summary = pd.read_csv(out / "posterior_summary.csv")
    assert "mechanisms.activity.crisis" not in set(summary["parameter"])
    assert "mechanisms.activity.base" in set(summary["parameter"])
    text = (out / "kosovo_2021_calibrated.yaml").read_text()
    assert "Held fixed, not fitted" in text and "activity.crisis = 0" in text
    calibrated = load_scenario(out / "kosovo_2021_calibrated.yaml")
    assert calibrated.mechanisms.activity.crisis == 0 and calibrated.mechanisms.escalation.shared == 0.25
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["fixed"] == {"mechanisms.activity.crisis": 0.0, "mechanisms.escalation.shared": 0.25}
    assert manifest["tolerances"]["calm"] == 0.01 and manifest["tolerances"]["p_clash"] == 0.025
    assert "Tolerances changed (--tolerance): calm 0.01" in text


def test_a_freed_parameter_is_fitted_over_its_prior_and_named(cli, tmp_path):
    """--free fits a parameter the schema holds: the posterior's particles vary it inside the prior
    given, the summary lists it with that prior, the calibrated scenario and the manifest name it, and
    the scenario runs on that posterior (control: without --free the column is not in the posterior)."""
    out = tmp_path / "cal"
    code, _, err = cli(
        "calibrate", "--population", "20", "--generations", "1", "--runs", "5",
        "--free", "mechanisms.bargaining.hurt_scale=2:30", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    hurt = pd.read_csv(out / "posterior.csv")["mechanisms.bargaining.hurt_scale"]
    assert hurt.nunique() > 1 and hurt.between(2, 30).all()
    summary = pd.read_csv(out / "posterior_summary.csv").set_index("parameter")
    assert tuple(summary.loc["mechanisms.bargaining.hurt_scale", ["prior_low", "prior_high"]]) == (2, 30)
    assert (
        "(--free; uniform priors): bargaining.hurt_scale 2 to 30"
        in (out / "kosovo_2021_calibrated.yaml").read_text()
    )
    assert json.loads((out / "manifest.json").read_text())["freed"] == {
        "mechanisms.bargaining.hurt_scale": [2.0, 30.0]
    }
    assert len(run(out / "kosovo_2021_calibrated.yaml", runs=3, days=5).outcomes) == 3
    plain = tmp_path / "plain"
    code, _, err = cli("calibrate", "--population", "20", "--generations", "1", "--runs", "5", "--out", plain)
    assert code == 0, err
    assert "mechanisms.bargaining.hurt_scale" not in pd.read_csv(plain / "posterior.csv").columns


def test_a_tolerance_given_changes_the_unit_of_its_kind_only():
    observed = {"calm.agreement": 0.0, "p_clash": 0.0}
    simulated = {"calm.agreement": 0.02, "p_clash": 0.05}
    assert misfit(observed, simulated) == pytest.approx(np.hypot(0.02 / 0.025, 0.05 / 0.025))
    assert misfit(observed, simulated, {"calm": 0.01}) == pytest.approx(np.hypot(2.0, 2.0))
