"""`sim sweep`: metrics over a parameter grid with 95% intervals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim import UserError, load_scenario
from sim.analysis.sweep import parse_vary, sweep


def test_parse_vary():
    path, values = parse_vary("mechanisms.mediation.weight=0.5:4:8")
    assert (
        path == "mechanisms.mediation.weight" and len(values) == 8 and values[0] == 0.5 and values[-1] == 4.0
    )
    for bad in ("mechanisms.mediation.weight", "x=1:2", "x=1:2:1", "x=a:b:3"):
        with pytest.raises(UserError):
            parse_vary(bad)


def test_one_parameter_sweep_has_intervals_and_shows_the_effect():
    sc = load_scenario("kosovo_2021", {"days": 40})
    result = sweep(sc, dict([parse_vary("mechanisms.mediation.weight=0.5:4:4")]), runs=300)
    days = result.table[result.table["metric"] == "days_to_resolution"].sort_values(
        "mechanisms.mediation.weight"
    )
    assert len(days) == 4
    assert (days["ci_low"] <= days["estimate"]).all() and (days["estimate"] <= days["ci_high"]).all()
    # stronger mediation, shorter crisis: the ends of the grid are clearly apart
    assert days["ci_high"].iloc[-1] < days["ci_low"].iloc[0]
    clash = result.table[result.table["metric"] == "p_clash"]
    assert clash["ci_low"].between(0, 1).all() and clash["ci_high"].between(0, 1).all()


def test_cli_sweep_two_parameters_and_errors(cli, tmp_path):
    code, out, err = cli(
        "sweep",
        "--vary",
        "mechanisms.mediation.weight=1:3:3",
        "--vary",
        "actors.russia.resolve=0.2:1:2",
        "--runs",
        "30",
        "--set",
        "days=30",
        "--out",
        tmp_path / "s",
    )
    assert code == 0, err
    table = pd.read_csv(tmp_path / "s" / "sweep.csv")
    assert len(table) == 3 * 2 * 3 and np.isfinite(table["estimate"]).all()
    assert (tmp_path / "s" / "sweep.png").exists()
    # the bundled scenario has a posterior: the sweep says it holds the rest at its point values
    assert "point values" in out and "not drawn from the posterior" in out
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["other_parameters"] == "point values" and manifest["posterior_not_drawn"]
    # control: a scenario without a posterior runs its own values, and nothing is said
    from sim.analysis.sweep import Sweep

    assert Sweep(["x"], table, 30, "plain").note() is None
    code, _, err = cli("sweep", "--vary", "mechanisms.mediaton.weight=1:3:3", "--out", tmp_path / "bad")
    assert code == 2 and "mediaton" in err and not (tmp_path / "bad").exists()
    code, _, err = cli("sweep", "--out", tmp_path / "none")
    assert code == 2 and "--vary" in err


def test_sweep_through_worker_processes_gives_the_same_table():
    from sim.analysis import sensitivity

    sc = load_scenario("kosovo_2021", {"days": 30})
    grid = dict([parse_vary("mechanisms.mediation.weight=0.5:4:6")])
    old = sensitivity.REPLICATES_PER_BATCH
    sensitivity.REPLICATES_PER_BATCH = 100  # several batches, so the workers share them
    try:
        one = sweep(sc, grid, runs=40)
        two = sweep(sc, grid, runs=40, workers=2)
    finally:
        sensitivity.REPLICATES_PER_BATCH = old
    pd.testing.assert_frame_equal(one.table, two.table)


def test_sensitivity_evaluate_on_a_dask_cluster_gives_the_same_outcomes():
    from dask.distributed import Client, LocalCluster

    from sim.analysis.sensitivity import evaluate

    sc = load_scenario("kosovo_2021", {"days": 30})
    names = ["mechanisms.mediation.weight", "mechanisms.deterrence.weight"]
    points = np.array([[0.5, 1.0], [2.0, 2.0], [4.0, 3.0]])
    here = evaluate(sc, names, points, runs=50)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        there = evaluate(sc, names, points, runs=50, client=client)
    np.testing.assert_array_equal(here, there)


# ------------------------------------------------------------- issue 9: sizes and values up front

BAD_SWEEPS = {
    # case: (options, what the one-line error says)
    "zero runs": (["--vary", "mechanisms.mediation.weight=1:3:3", "--runs", "0"], "--runs: expected a whole"),
    "negative runs": (
        ["--vary", "mechanisms.mediation.weight=1:3:3", "--runs", "-5"],
        "at least 1, found -5",
    ),
    "one step": (["--vary", "mechanisms.mediation.weight=1:3:1"], "--vary: expected STEPS >= 2"),
    "zero steps": (["--vary", "mechanisms.mediation.weight=1:3:0"], "--vary: expected STEPS >= 2"),
    "an empty range": (["--vary", "mechanisms.mediation.weight=2:2:3"], "LOW and HIGH that differ"),
    "NaN": (["--vary", "mechanisms.rationality=nan:1:2"], "expected finite LOW and HIGH"),
    "rationality -100": (
        ["--vary", "mechanisms.rationality=-100:1:2"],
        "rationality: expected finite numbers > 0",
    ),
    "negative decay": (
        ["--vary", "mechanisms.tension.decay=-0.5:0.5:3"],
        "decay: expected finite numbers >= 0",
    ),
    "capability 50": (["--vary", "actors.serbia.capability=0.5:50:2"], "capability: expected finite numbers"),
    "resolution window": (
        ["--vary", "mechanisms.outcome.resolution_window=2:9:2"],
        "cannot vary per replicate",
    ),
    "the same parameter twice": (
        ["--vary", "mechanisms.rationality=1:2:2", "--vary", "mechanisms.rationality=1:3:2"],
        "expected two different parameters",
    ),
    "huge steps": (["--vary", "mechanisms.rationality=1:2:100000000000"], "of memory, more than the"),
    "huge grid": (
        ["--vary", "mechanisms.rationality=1:2:1000000", "--vary", "mechanisms.mediation.weight=1:3:1000000"],
        "1,000,000,000,000 parameter points x 200 runs",
    ),
    "huge runs": (
        ["--vary", "mechanisms.rationality=1:2:2", "--runs", "1000000000000"],
        "use fewer STEPS or --runs",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SWEEPS))
def test_a_bad_sweep_is_refused_up_front_in_one_line(case, cli, tmp_path):
    import tracemalloc

    options, expected = BAD_SWEEPS[case]
    tracemalloc.start()
    try:
        code, out, err = cli("sweep", *options, "--out", tmp_path / "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and expected in err and err.startswith("sim: error: ") and err.count("\n") == 1, err
    assert "--vary" in err or "--runs" in err
    assert not (tmp_path / "s").exists() and out == ""  # refused before any simulation
    assert peak < 200 * 2**20  # before allocating anything big


def test_the_sweep_api_checks_sizes_and_values_too():
    sc = load_scenario("kosovo_2021", {"days": 10})
    with pytest.raises(UserError, match="--runs: expected a whole number of at least 1, found 0"):
        sweep(sc, {"mechanisms.rationality": np.array([1.0, 2.0])}, runs=0)
    with pytest.raises(UserError, match=r"--vary: mechanisms.rationality: .* found nan"):
        sweep(sc, {"mechanisms.rationality": np.array([1.0, np.nan])}, runs=5)
    with pytest.raises(UserError, match="of memory"):
        parse_vary("mechanisms.rationality=1:2:100000000000")
    # control: a reversed range is a valid (descending) grid
    result = sweep(sc, dict([parse_vary("mechanisms.rationality=2:1:2")]), runs=5)
    assert sorted(result.table["mechanisms.rationality"].unique()) == [1.0, 2.0]
