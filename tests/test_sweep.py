"""`sim sweep`: metrics over a parameter grid with 95% intervals."""

from __future__ import annotations

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
    code, _, err = cli(
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
