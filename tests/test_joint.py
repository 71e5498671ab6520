"""One calibration across several episodes (issue 11, item 4): `sim calibrate A B ...`.

Tiny settings only (population 6, 1-3 generations, 2 runs per evaluation): what is checked is how
the joint distance is built, what the run says about itself and what it writes, not the fit.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario
from sim.analysis.abc import misfit
from sim.analysis.calibrate import calibrate_joint, episode, joint_distance, joint_observed

from .conftest import SCENARIOS, one_error

PAIR = ("kosovo_2018", "india_pakistan_2019")
TINY = ["--population", "6", "--runs", "2"]


def _copy(folder, name, alter=None):
    """A bundled scenario copied with its record into `folder`; `alter(frame)` edits the record."""
    (folder / "records").mkdir(parents=True, exist_ok=True)
    shutil.copy(SCENARIOS / f"{name}.yaml", folder / f"{name}.yaml")
    data = pd.read_csv(SCENARIOS / "records" / f"{name}_events.csv", dtype=str, keep_default_na=False)
    if alter is not None:
        alter(data)
    data.to_csv(folder / "records" / f"{name}_events.csv", index=False)
    return folder / f"{name}.yaml"


def test_the_joint_distance_is_the_root_mean_square_of_each_episodes_distance():
    episodes = [episode(load_scenario(n)) for n in PAIR]
    observed = joint_observed(episodes)
    assert set(observed) == {f"{ep.name}:{k}" for ep in episodes for k in ep.observed}
    # a "simulation" off by known amounts: one Goldstein tolerance (5) in one phase of each episode,
    # two in the second episode's
    simulated = dict(observed)
    simulated["kosovo_2018:goldstein.arrest"] += 5.0
    simulated["india_pakistan_2019:goldstein.strikes"] += 10.0
    assert joint_distance(simulated, observed) == pytest.approx(np.sqrt((1.0**2 + 2.0**2) / 2))
    # and by hand from abc.misfit, each episode in its own terms
    per = [
        misfit(ep.observed, {k.split(":", 1)[1]: v for k, v in simulated.items() if k.startswith(ep.name)})
        for ep in episodes
    ]
    assert per == pytest.approx([1.0, 2.0])
    assert joint_distance(observed, observed) == 0.0


def test_an_altered_record_of_one_episode_changes_the_joint_distance(tmp_path):
    """Control: the distance reads every episode's own record; editing one record moves it."""

    def quieter(data):  # the 2019 record's strikes as verbal criticism
        data.loc[data["cameo"].str.startswith(("19", "20")), "goldstein"] = "-2.0"

    same = [episode(load_scenario(_copy(tmp_path / "same", n))) for n in PAIR]
    edited = [
        episode(load_scenario(_copy(tmp_path / "same", PAIR[0]))),
        episode(load_scenario(_copy(tmp_path / "edited", PAIR[1], quieter))),
    ]
    bundled = [episode(load_scenario(n)) for n in PAIR]
    simulated = {k: v + 1.0 for k, v in joint_observed(bundled).items()}
    base = joint_distance(simulated, joint_observed(bundled))
    assert joint_distance(simulated, joint_observed(same)) == pytest.approx(base)  # a plain copy: the same
    moved = joint_observed(edited)
    assert (
        moved["india_pakistan_2019:goldstein.strikes"]
        > joint_observed(bundled)["india_pakistan_2019:goldstein.strikes"]
    )
    assert {k for k in moved if moved[k] != joint_observed(bundled)[k]} <= {
        k for k in moved if k.startswith("india_pakistan_2019:")
    }
    assert joint_distance(simulated, moved) != pytest.approx(base)


def test_a_joint_calibration_writes_one_posterior_every_episode_runs_from(cli, tmp_path):
    code, out, err = cli(
        "calibrate", *PAIR, *TINY, "--generations", "2", "--max-minutes", "10000", "--out", tmp_path / "cal"
    )
    assert code == 0, err
    folder = tmp_path / "cal"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["episodes"] == list(PAIR) and manifest["generations"] == 2
    assert len(manifest["effective_sample_size"]) == 2 and set(manifest["episode_distance"]) == set(PAIR)
    assert "time cap" not in manifest["reason"]  # control for the cap below
    assert "effective sample size per generation (of 6)" in out and "kosovo_2018" in out
    # the heaviest particles run again, in the fit's runs and on fresh ones
    assert len(manifest["recheck"]) == 5 and "on fresh runs" in out
    assert any(r["fresh_1"] != r["distance"] for r in manifest["recheck"])
    post = pd.read_csv(folder / "posterior.csv")
    assert len(post) == 6 and post["weight"].sum() == pytest.approx(1.0)
    assert "roles.armed_group.activity" in post and "roles.minority.activity" in post  # both episodes' roles
    for name in PAIR:
        code, _, err = cli("run", folder / f"{name}_calibrated.yaml", "--runs", "4", "--out", tmp_path / name)
        assert code == 0, err
        assert (tmp_path / name / "posterior.csv").exists()  # its replicates drew from the joint posterior
    assert (folder / "posterior.png").read_bytes()[:4] == b"\x89PNG"


def test_the_time_cap_makes_a_joint_calibration_say_it_stopped_early(cli, tmp_path):
    code, out, err = cli(
        "calibrate", *PAIR, *TINY, "--generations", "3", "--max-minutes", "0.0001", "--out", tmp_path / "cal"
    )
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("sim: warning: the calibration STOPPED")]
    assert len(warning) == 1 and "time cap" in warning[0] and "after 1 of 3 generations" in warning[0]
    assert "STOPPED EARLY: the time cap" in out
    manifest = json.loads((tmp_path / "cal" / "manifest.json").read_text())
    assert manifest["stopped_early"] is True and manifest["generations"] == 1
    assert "time cap" in manifest["reason"]
    for name in PAIR:
        assert "# STOPPED EARLY" in (tmp_path / "cal" / f"{name}_calibrated.yaml").read_text()


def test_the_python_api_takes_the_same_list():
    result = calibrate_joint([load_scenario(n) for n in PAIR], population=6, generations=1, runs=2)
    assert result.names == list(PAIR) and result.generations == 1 and result.stopped_early
    assert set(result.point_values()) == set(result.ranges)


def test_joint_calibration_errors_are_one_line_and_write_nothing(cli, tmp_path):
    out = tmp_path / "cal"
    assert "expected each episode once, found kosovo_2018 twice" in one_error(
        cli, "calibrate", "kosovo_2018", "kosovo_2018", "--out", out
    )
    assert "--data: applies to one scenario" in one_error(
        cli, "calibrate", *PAIR, "--data", SCENARIOS / "records" / "kosovo_2018_events.csv", "--out", out
    )
    bare = tmp_path / "bare.yaml"
    text = (SCENARIOS / "kosovo_2018.yaml").read_text().split("\nrecord:")[0]
    bare.write_text(text.replace("name: kosovo_2018", "name: bare"))
    line = one_error(cli, "calibrate", "kosovo_2018", bare, "--out", out)
    assert f"{bare}: names no record" in line
    assert "--population: expected a whole number of at least 2" in one_error(
        cli, "calibrate", *PAIR, "--population", "1", "--out", out
    )
    assert "not found" in one_error(cli, "calibrate", "kosovo_2018", tmp_path / "nothing.yaml", "--out", out)
    assert not out.exists()
