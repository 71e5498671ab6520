"""Global sensitivity through SALib: indices with intervals; a parameter with no effect gets none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import UserError, load_scenario
from sim.analysis.sensitivity import OUTPUTS, analyse, calibratable, evaluate


def test_calibratable_parameters_have_ranges_inside_the_schema_bounds():
    ranges = calibratable()
    assert "mechanisms.mediation.weight" in ranges and "mechanisms.activity.arousal" in ranges
    assert "mechanisms.rationality" not in ranges  # it sets the utility scale; the weights are calibrated
    sc = load_scenario("kosovo_2021")
    for path, (low, high) in ranges.items():
        assert low < high
        for value in (low, high):  # both ends validate
            load_scenario(sc.model_dump(mode="json", exclude={"extends"}), {path: value})


def test_evaluate_is_the_model_as_a_function_of_parameter_points():
    sc = load_scenario("kosovo_2021")
    names = ["mechanisms.mediation.weight"]
    y = evaluate(sc, names, np.array([[0.5], [4.0], [0.5]]), runs=200)
    assert y.shape == (3, len(OUTPUTS))
    np.testing.assert_array_equal(y[0], y[2])  # common random numbers: same point, same outcomes
    days = OUTPUTS.index("days_to_resolution")
    assert y[1, days] < y[0, days]  # stronger mediation ends the crisis sooner


@pytest.fixture(scope="module")
def toy():
    # With no accidents at all, the escalation of accidents into clashes can have no effect.
    sc = load_scenario("kosovo_2021", {"mechanisms.accidents.hazard": 0.0, "days": 40})
    params = {"mechanisms.accidents.escalation": (0.01, 0.3), "mechanisms.mediation.weight": (0.5, 4.0)}
    return analyse(sc, method="sobol", samples=32, runs=40, parameters=params)


def test_sobol_indices_come_with_intervals(toy):
    table = toy.table
    assert set(table["output"]) == set(OUTPUTS)
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(table.columns)
    assert table["ST_conf"].notna().all()


def test_a_parameter_with_no_effect_has_a_total_index_near_zero(toy):
    t = toy.table.set_index(["output", "parameter"])
    for output in OUTPUTS:
        assert abs(t.loc[(output, "mechanisms.accidents.escalation"), "ST"]) < 0.01
    assert t.loc[("days_to_resolution", "mechanisms.mediation.weight"), "ST"] > 0.3


def test_morris_and_the_cli(cli, tmp_path):
    code, _out, err = cli(
        "sensitivity",
        "--method",
        "morris",
        "--samples",
        "4",
        "--runs",
        "20",
        "--param",
        "mechanisms.mediation.weight",
        "--param",
        "mechanisms.rationality=1:2",
        "--set",
        "days=30",
        "--out",
        tmp_path / "s",
    )
    assert code == 0, err
    table = pd.read_csv(tmp_path / "s" / "sensitivity.csv")
    assert {"mu_star", "mu_star_conf", "sigma"} <= set(table.columns)
    assert set(table["parameter"]) == {"mechanisms.mediation.weight", "mechanisms.rationality"}
    code, _, err = cli("sensitivity", "--param", "mechanisms.tension.event_scale", "--out", tmp_path / "x")
    assert code == 2 and "not a calibratable parameter" in err


# ------------------------------------------------------------- issue 9: sizes and ranges up front

BAD_DESIGNS = {
    "zero samples": (["--samples", "0"], "--samples: expected a whole number of at least 1, found 0"),
    "negative samples": (["--samples", "-4"], "--samples: expected a whole number"),
    "zero runs": (["--runs", "0"], "--runs: expected a whole number of at least 1, found 0"),
    "reversed range": (
        ["--param", "mechanisms.rationality=2:1"],
        "rationality: expected LOW < HIGH, found 2:1",
    ),
    "empty range": (["--param", "mechanisms.rationality=1:1"], "expected LOW < HIGH"),
    "NaN range": (["--param", "mechanisms.rationality=nan:2"], "expected LOW < HIGH"),
    "three numbers": (["--param", "mechanisms.rationality=1:2:3"], "--param: expected PATH=LOW:HIGH"),
    "rationality -100": (["--param", "mechanisms.rationality=-100:1"], "--param: mechanisms.rationality:"),
    "negative decay": (["--param", "mechanisms.tension.decay=-1:0.5"], "decay: expected finite numbers >= 0"),
    "capability 50": (["--param", "actors.serbia.capability=0:50"], "found 50"),
    "unknown method": (["--method", "fast99"], "--method: expected sobol or morris"),
    "huge samples": (["--samples", "1000000000"], "of memory, more than the"),
    "huge runs": (["--runs", "1000000000000"], "use fewer --samples, --runs or --param"),
}


@pytest.mark.parametrize("case", sorted(BAD_DESIGNS))
def test_a_bad_design_is_refused_up_front_in_one_line(case, cli, tmp_path):
    import tracemalloc

    options, expected = BAD_DESIGNS[case]
    tracemalloc.start()
    try:
        code, out, err = cli("sensitivity", *options, "--out", tmp_path / "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and expected in err and err.startswith("sim: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "s").exists() and out == ""
    assert peak < 200 * 2**20  # refused before SALib drew the design


def test_the_api_refuses_zero_sizes_before_dividing_by_them():
    sc = load_scenario("kosovo_2021", {"days": 10})
    with pytest.raises(UserError, match="--runs: expected a whole number of at least 1, found 0"):
        evaluate(sc, ["mechanisms.rationality"], np.array([[1.0]]), runs=0)
    with pytest.raises(UserError, match="--samples"):
        analyse(sc, samples=0, runs=5)
    with pytest.raises(UserError, match=r"mechanisms.rationality: .*found -100"):
        evaluate(sc, ["mechanisms.rationality"], np.array([[1.0], [-100.0]]), runs=2)
