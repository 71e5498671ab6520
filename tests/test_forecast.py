"""`sim forecast SCENARIO --observed FILE --as-of DATE` (issue 11, item 6): the past replayed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from sim import load_scenario
from sim.analysis.forecast import forecast

from .conftest import SCENARIOS, one_error

CODES = ["ALB", "EU", "KOS", "KSB", "NATO", "RUS", "SRB"]  # kosovo_2021's actors


def _observed(folder, until="2021-09-25", name="obs.csv", rows=None):
    """The 2021 record up to `until`, the scenario's actors only (what a live analyst would have)."""
    data = pd.read_csv(SCENARIOS / "records" / "kosovo_2021_events.csv", dtype=str, keep_default_na=False)
    data = data[(data["date"] <= until) & data["actor"].isin(CODES)]
    if rows is not None:
        data = rows(data)
    path = folder / name
    data.to_csv(path, index=False)
    return path


def forecast_cli(cli, observed, out) -> str:
    """`sim forecast kosovo_2021` as of 25 Sep 2021, 10 runs, into `out`; its stdout."""
    code, stdout, err = cli(
        "forecast", "kosovo_2021", "--observed", observed, "--as-of", "2021-09-25", "--runs", "10",
        "--out", out,
    )  # fmt: skip
    assert code == 0, err
    return stdout


def test_forecast_replays_the_past_and_writes_a_run_folder(cli, tmp_path):
    out = forecast_cli(cli, _observed(tmp_path), tmp_path / "f")
    assert "as of 2021-09-25" in out and "simulated from 2021-09-26" in out and "resolved" in out
    folder = tmp_path / "f"
    for name in ("tension.png", "dyads.png", "outcomes.csv", "events.csv", "trajectories.csv"):
        assert (folder / name).exists(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["start_date"] == "2021-09-26" and manifest["forecast"]["as_of"] == "2021-09-25"
    assert manifest["forecast"]["replayed_as_history"] > 10
    scenario = yaml.safe_load((folder / "scenario.yaml").read_text().split("\n", 2)[2])
    replayed = [e for e in scenario["history"] if e.get("label") == "replayed from the record"]
    assert len(replayed) == manifest["forecast"]["replayed_as_history"]
    assert min(e["day"] for e in replayed) == -6 and max(e["day"] for e in replayed) == -1
    assert not scenario["events"]  # the file's day-0 trigger is in the past now: the record replays it
    load_scenario(folder / "scenario.yaml")  # the run folder's scenario reruns


def test_what_was_observed_changes_the_forecast(tmp_path):
    """The replayed past sets where the forecast starts from; control: nothing observed."""
    sc = load_scenario("kosovo_2021")
    hostile = forecast(sc, _observed(tmp_path), "2021-09-25", runs=40, posterior=False)
    quiet = forecast(
        sc, _observed(tmp_path, name="none.csv", rows=lambda d: d.iloc[:0]), "2021-09-25", runs=40,
        posterior=False,
    )  # fmt: skip
    day0 = [f.result.trajectories.query("day == 0")["tension"].median() for f in (hostile, quiet)]
    assert quiet.replay.replayed == 0 and hostile.replay.replayed > 10
    assert day0[0] > day0[1] + 5, day0
    same = forecast(sc, _observed(tmp_path), "2021-09-25", runs=40, posterior=False)  # reproducible
    pd.testing.assert_frame_equal(same.result.outcomes, hostile.result.outcomes)


def test_the_whole_record_forecasts_its_third_parties_and_later_days_left_out_and_counted(cli, tmp_path):
    """A shipped record as it is (USA, UN and unknown perpetrators, and the days after the as-of date):
    those rows are left out and counted by code, and the forecast is the one from the cleaned file
    (control: the cleaned file has nothing to leave out)."""
    out = forecast_cli(cli, SCENARIOS / "records" / "kosovo_2021_events.csv", tmp_path / "whole")
    assert "(38 after the as-of date left out)" in out
    assert "by actors outside the scenario (UN 1, UNK 2, USA 2)" in out
    out2 = forecast_cli(cli, _observed(tmp_path), tmp_path / "clean")
    assert "left out" not in out2 and "outside the scenario" not in out2
    for name in ("outcomes.csv", "trajectories.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    assert manifest["forecast"]["after_as_of_left_out"] > 30


BAD_FILES = {
    "no goldstein": (lambda d: d.drop(columns=["goldstein"]), "expected columns actor, cameo, goldstein", ""),
    "bad goldstein": (lambda d: d.assign(goldstein="strong"), "goldstein: expected numbers", "'strong'"),
    "bad date": (lambda d: d.assign(date="25/09/2021"), "date: expected dates as YYYY-MM-DD", ""),
    "no date": (lambda d: d.drop(columns=["date"]), "expected a date column", ""),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_observed_file_is_one_line_naming_file_and_field(case, cli, tmp_path):
    edit, expected, found = BAD_FILES[case]
    obs = _observed(tmp_path, rows=edit)
    line = one_error(
        cli, "forecast", "kosovo_2021", "--observed", obs, "--as-of", "2021-09-25", "--out", tmp_path / "f"
    )
    assert line.startswith(f"sim: error: {obs}: ") and expected in line and found in line, line
    assert not (tmp_path / "f").exists()


BAD_DATES = {
    "not a date": ("25 Sep", "--as-of: expected a date YYYY-MM-DD"),
    "before the start": ("2021-09-19", "--as-of: expected a date from the start date 2021-09-20"),
    "the last day": ("2021-11-18", "--as-of: expected a date from the start date"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATES))
def test_a_bad_as_of_date_is_one_line(case, cli, tmp_path):
    text, expected = BAD_DATES[case]
    obs = _observed(tmp_path)
    line = one_error(
        cli, "forecast", "kosovo_2021", "--observed", obs, "--as-of", text, "--out", tmp_path / "f"
    )
    assert expected in line and not (tmp_path / "f").exists()


def test_a_missing_observed_file_is_one_line(cli, tmp_path):
    line = one_error(
        cli, "forecast", "--observed", tmp_path / "none.csv", "--as-of", "2021-09-25", "--out", tmp_path / "f"
    )
    assert "none.csv" in line and not (tmp_path / "f").exists()
