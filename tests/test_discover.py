"""`sim discover` (issue 11, item 8): PRIM finds the parameter regions that lead to an outcome."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario
from sim.analysis import discover as disc
from sim.errors import UserError

HAZARD = "mechanisms.accidents.hazard"
MEDIATION = "mechanisms.mediation.weight"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("kosovo_2021")


def _threshold(name: str, cut: float, inside: float = 0.9, outside: float = 0.05):
    """A known answer: the outcome's share is `inside` where parameter `name` exceeds `cut`."""

    def evaluate(names, points):
        return np.where(points[:, names.index(name)] > cut, inside, outside)

    return evaluate


def _noise(seed: int):
    """No answer: every point's share drawn from the same rate, 0.2, over 10 runs."""
    rng = np.random.default_rng(seed)
    return lambda names, points: rng.binomial(10, 0.2, len(points)) / 10


def _restrictions(result, box: int = 1) -> pd.DataFrame:
    return result.boxes[result.boxes["box"] == box].set_index("parameter")


# ------------------------------------------------------------- known answers


def test_a_threshold_on_one_parameter_is_the_box(scenario):
    """Every calibratable parameter sampled; the outcome depends on the hazard alone, above 0.25."""
    result = disc.discover(scenario, samples=300, runs=20, evaluate=_threshold(HAZARD, 0.25))
    assert len(result.parameters) == len(disc.calibratable(scenario)) >= 15
    box = _restrictions(result)
    assert list(box.index) == [HAZARD]  # no other parameter restricted
    low, high = box.loc[HAZARD, ["low", "high"]]
    assert 0.25 <= low < 0.27  # PRIM's steps are 5% of the points: the cut to within 5% of the range
    assert high == 0.4 and np.isnan(box.loc[HAZARD, "qp_high"])  # bounded from below only
    assert box.loc[HAZARD, "density"] == pytest.approx(0.9)  # every point inside is above the cut
    inside_share = 0.9 * (result.points[HAZARD] >= low).sum() / result.points["share"].sum()
    assert box.loc[HAZARD, "coverage"] == pytest.approx(inside_share) and inside_share > 0.85
    assert result.boxes["box"].nunique() == 1  # what is left is flat: no second box


def test_two_thresholds_give_both_restrictions_with_their_directions(scenario):
    def evaluate(names, points):
        h, m = points[:, names.index(HAZARD)], points[:, names.index(MEDIATION)]
        return np.where((h > 0.2) & (m < 2.0), 1.0, 0.0)

    ranges = {n: disc.calibratable(scenario)[n] for n in (HAZARD, MEDIATION, "mechanisms.reciprocity.weight")}
    result = disc.discover(scenario, samples=200, runs=10, parameters=ranges, evaluate=evaluate)
    box = _restrictions(result)
    assert set(box.index) == {HAZARD, MEDIATION}
    assert 0.2 <= box.loc[HAZARD, "low"] < 0.22 and box.loc[HAZARD, "high"] == 0.4
    assert box.loc[MEDIATION, "low"] == 0.5 and 1.9 < box.loc[MEDIATION, "high"] <= 2.0
    assert box.loc[HAZARD, "density"] == 1.0 and box.loc[HAZARD, "coverage"] > 0.95


def test_control_an_outcome_that_ignores_the_parameters_gives_no_box(scenario):
    """Shares drawn at random, the same rate everywhere: PRIM's peeling alone would always find a box."""
    boxes = []
    for seed in range(10):
        result = disc.discover(scenario, samples=100, runs=10, seed=seed, evaluate=_noise(seed))
        boxes.append(result.summary().assign(base=result.base_rate))
    found = pd.concat(boxes)
    assert len(found) <= 1  # at the 5% level, one chance box in ten at most
    assert (found["density"] < found["base"] + 0.1).all()  # and none well above the base rate
    # the control can fail: the raw peeling trajectory does reach far above the base rate
    from ema_workbench.analysis import prim

    rng = np.random.default_rng(0)
    x = disc.latin_hypercube(disc.calibratable(scenario), 100, 0)
    y = rng.binomial(10, 0.2, 100) / 10
    raw = prim.Prim(x, y).find_box()
    assert raw.peeling_trajectory["density"].max() > y.mean() + 0.1


def test_the_model_bounds_the_accident_hazard_from_below_for_clash(scenario):
    """With the model: more accidents, more clashes; the box must say hazard >= something."""
    ranges = {n: disc.calibratable(scenario)[n] for n in (HAZARD, MEDIATION)}
    result = disc.discover(scenario, outcome="clash", samples=60, runs=30, parameters=ranges)
    assert not result.boxes.empty, result.note
    box = _restrictions(result)
    assert HAZARD in box.index
    assert box.loc[HAZARD, "low"] > 0.1 and box.loc[HAZARD, "high"] == 0.4  # the range is 0.02 to 0.4
    assert box.loc[HAZARD, "density"] > 1.3 * result.base_rate
    # the shares themselves rise with the hazard: the box is no artefact of PRIM
    shares = result.points.groupby(result.points[HAZARD] > 0.2)["share"].mean()
    assert shares[True] > 2 * shares[False]


def test_the_same_seed_gives_the_same_sample_and_boxes(scenario):
    a, b = (disc.discover(scenario, samples=120, runs=20, evaluate=_threshold(HAZARD, 0.3)) for _ in "ab")
    pd.testing.assert_frame_equal(a.points, b.points)
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    c = disc.discover(
        scenario, samples=120, runs=20, seed=scenario.seed + 1, evaluate=_threshold(HAZARD, 0.3)
    )
    assert not c.points.equals(a.points)


def test_the_latin_hypercube_puts_one_point_in_each_stratum_of_each_range():
    ranges = {"a": (0.0, 1.0), "b": (2.0, 6.0)}
    x = disc.latin_hypercube(ranges, 50, seed=1)
    for name, (low, high) in ranges.items():
        strata = np.floor((x[name] - low) / (high - low) * 50).astype(int)
        assert sorted(strata) == list(range(50))


def test_no_case_of_the_outcome_is_no_box_with_a_reason(scenario):
    result = disc.discover(scenario, samples=50, runs=5, evaluate=lambda n, x: np.zeros(len(x)))
    assert result.boxes.empty and "no run ended in this outcome" in result.note
    assert any(line.startswith("no box: ") for line in result.lines())


# ------------------------------------------------------------- the command


def test_cli_discover_writes_the_boxes_and_the_sample(cli, tmp_path):
    out = tmp_path / "d"
    code, text, err = cli(
        "discover", "kosovo_2021", "--param", HAZARD, "--samples", 50, "--runs", 5, "--out", out
    )
    assert code == 0, err
    table = pd.read_csv(out / "discovery.csv")
    assert list(table.columns) == disc.BOX_COLUMNS
    points = pd.read_csv(out / "points.csv")
    assert list(points.columns) == [HAZARD, "share"] and len(points) == 50
    assert ((points["share"] * 5) % 1 == 0).all()  # shares of 5 runs
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outcome"] == "clash" and manifest["points"] == 50 and manifest["runs_per_point"] == 5
    assert "'armed clash' in" in text and f"files: {out}/discovery.csv" in text
    for _, row in table.iterrows():
        assert f"box {row['box']}: coverage {row['coverage']:.0%}" in text


BAD = {
    "unknown outcome": (
        ["--outcome", "war"],
        "--outcome: expected one of resolved, tense, clash, found 'war'",
    ),
    "too few samples": (["--samples", "49"], "--samples: expected at least 50 samples"),
    "no runs": (["--runs", "0"], "--runs: expected a whole number of at least 1, found 0"),
    "coverage": (["--min-coverage", "1.5"], "--min-coverage: expected a share above 0 and at most 1"),
    "no boxes": (["--boxes", "0"], "--boxes: expected a whole number of at least 1"),
    "unknown parameter": (["--param", "mechanisms.nope"], "--param mechanisms.nope: not a calibratable"),
    "bad range": (["--param", f"{HAZARD}=0.3:0.1"], "expected LOW < HIGH, found 0.3:0.1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_input_is_one_line_and_writes_nothing(case, cli, tmp_path):
    args, message = BAD[case]
    code, out, err = cli("discover", "kosovo_2021", *args, "--out", tmp_path / "d")
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "d").exists()


def test_api_bad_outcome_and_samples_are_user_errors(scenario):
    with pytest.raises(UserError, match="--outcome"):
        disc.discover(scenario, outcome="peace", evaluate=_threshold(HAZARD, 0.2))
    with pytest.raises(UserError, match="--samples: expected at least 50"):
        disc.discover(scenario, samples=20, evaluate=_threshold(HAZARD, 0.2))
