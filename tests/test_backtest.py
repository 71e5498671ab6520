"""`sim backtest` (issue 11, item 5) and the replay of the record it forecasts from (sim.analysis.replay).

Minimal settings (population 6, one generation, 2 runs per evaluation, 10 runs per forecast): what
is checked is what the backtest scores and writes, not how good the model is.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim import load_scenario
from sim.analysis.backtest import METRICS, skill_table
from sim.analysis.replay import as_of
from sim.scenario.record import locate, read_event_data

from .conftest import SCENARIOS, one_error

PAIR = ("kosovo_2018", "india_pakistan_2019")
TINY = ["--population", "6", "--generations", "1", "--runs", "2", "--forecast-runs", "10"]


def test_the_record_so_far_is_replayed_as_history():
    sc = load_scenario("korea_2015")
    data = read_event_data(locate(sc), sc)
    start = as_of(sc, data, 0)
    assert start.replayed == 0 and start.scenario.start_date == sc.start_date
    assert [e.day for e in start.scenario.events] == [0]  # the trigger; day 13's scripted move is not known
    later = as_of(sc, data, 10)
    assert str(later.scenario.start_date) == "2015-08-14" and later.scenario.days == sc.days - 10
    assert not later.scenario.events  # day 0's trigger is history now, replayed from the record
    replayed = [e for e in later.scenario.history if e.label == "replayed from the record"]
    coded = data[(data["sim_day"] < 10) & data["actor_id"].isin(list(sc.actors))]
    assert len(replayed) == later.replayed and 0 < later.replayed <= len(coded)
    assert later.replayed + sum(later.skipped.values()) == len(data[data["sim_day"] < 10])
    assert {e.day + 10 for e in replayed} <= set(coded["sim_day"])
    kept = as_of(sc, data, 10, keep_later_events=True)  # a live forecast keeps the modeller's plans
    assert [e.day for e in kept.scenario.events] == [3]


def test_skill_table_pools_units_per_episode_and_over_all():
    units = pd.DataFrame(
        {
            "episode": ["a", "a", "b", "b"],
            "origin": [0, 3, 0, 0],
            "metric": ["brier_clash"] * 4,
            "unit": ["clash"] * 4,
            "model": [0.0, 0.0, 0.5, 0.5],
            "climatology": [1.0, 1.0, 0.25, 0.25],
            "persistence": [0.0, 0.0, 1.0, 1.0],
        }
    )
    table = skill_table(units).set_index(["episode", "origin"])
    assert table.loc[("a", "all"), "skill_vs_climatology"] == 1.0  # perfect against a worse baseline
    assert np.isnan(table.loc[("a", "all"), "skill_vs_persistence"])  # persistence was perfect too
    assert table.loc[("b", "all"), "skill_vs_climatology"] == -1.0
    pooled = table.loc[("pooled", "all")]
    assert pooled["units"] == 4 and pooled["model"] == 0.25
    assert pooled["skill_vs_climatology"] == pytest.approx(1 - 0.25 / 0.625)


@pytest.fixture(scope="module")
def backtest_folder(tmp_path_factory):
    from sim.cli import main

    out = tmp_path_factory.mktemp("bt") / "out"
    with pytest.raises(SystemExit) as done:
        main(["backtest", *PAIR, *TINY, "--origins", "0,3", "--out", str(out)])
    assert done.value.code in (0, None)
    return out


def test_a_tiny_backtest_writes_its_table_units_and_figure(backtest_folder):
    table = pd.read_csv(backtest_folder / "backtest.csv", dtype={"origin": str})
    assert set(table["metric"]) == set(METRICS)
    assert {"kosovo_2018", "india_pakistan_2019", "pooled"} == set(table["episode"])
    assert set(table["origin"]) == {"0", "3", "all"}
    for column in ("skill_vs_climatology", "skill_vs_persistence", "coverage_model"):
        assert column in table
    assert (backtest_folder / "backtest.png").read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((backtest_folder / "manifest.json").read_text())
    assert manifest["origins"] == [0, 3] and set(manifest["calibrations"]) == set(PAIR)
    # each fold was calibrated on the other episode only
    assert manifest["calibrations"]["kosovo_2018"]["episodes"] == ["india_pakistan_2019"]
    assert manifest["stopped_early"] == list(PAIR)  # one generation: too few to tell, and it says so


def test_the_backtest_scores_every_day_of_the_window_and_event_days_apart(backtest_folder):
    units = pd.read_csv(backtest_folder / "units.csv")
    for name in PAIR:
        sc = load_scenario(name)
        last = sc.record.window[1]
        data = read_event_data(locate(sc), sc)
        for origin in (0, 3):
            part = units[(units["episode"] == name) & (units["origin"] == origin)]
            days = part.loc[part["metric"] == "crps_all_days", "unit"].astype(int)
            assert sorted(days) == list(range(origin, last + 1))
            event_days = part.loc[part["metric"] == "crps_event_days", "unit"].astype(int)
            recorded = set(data.loc[(data["sim_day"] >= origin) & (data["sim_day"] <= last), "sim_day"])
            assert set(event_days) == recorded
    # the 90% band's coverage is kept for every day, and reported for the event days apart
    table = pd.read_csv(backtest_folder / "backtest.csv", dtype={"origin": str}).set_index(
        ["episode", "origin", "metric"]
    )
    for name in PAIR:
        for metric in ("crps_all_days", "crps_event_days"):
            part = units[(units["episode"] == name) & (units["metric"] == metric)]
            expected = part["covered_model"].mean()
            assert table.loc[(name, "all", metric), "coverage_model"] == pytest.approx(expected, abs=1e-4)
    # a timing is scored only while it lies ahead: kosovo_2018's first moves are on day 1
    k18 = units[(units["episode"] == "kosovo_2018") & (units["metric"] == "interval_timings")]
    assert set(k18["origin"]) == {0}


def test_the_training_fits_take_the_calibrations_choices(backtest_folder, tmp_path):
    """`--free`, `--tolerance` and `--fix` reach every training fit, as `sim calibrate`'s reach its fit
    (the library's posterior is fitted with fatigue free, docs/model.md 8.4). Control: the plain
    backtest's fits hold fatigue at the scenario's value and name no choices."""
    chosen = ["--free", "mechanisms.reciprocity.fatigue=1:2", "--tolerance", "p_clash=0.25"]
    chosen += ["--fix", "mechanisms.activity.crisis=0"]
    manifest = _tiny_backtest(tmp_path / "out", chosen)
    assert manifest["freed"] == {"mechanisms.reciprocity.fatigue": "1:2"}
    assert manifest["tolerances"] == {"p_clash": 0.25}
    for fit in manifest["calibrations"].values():
        assert 1.0 <= fit["point_values"]["mechanisms.reciprocity.fatigue"] <= 2.0
        assert fit["point_values"]["mechanisms.activity.crisis"] == 0
    plain = json.loads((backtest_folder / "manifest.json").read_text())
    assert plain["freed"] == {} and plain["tolerances"] == {}
    for fit in plain["calibrations"].values():
        assert "mechanisms.reciprocity.fatigue" not in fit["point_values"]
        assert fit["point_values"]["mechanisms.activity.crisis"] != 0


def _tiny_backtest(out, chosen: list[str]) -> dict:
    """`sim backtest` of PAIR with TINY settings and the options `chosen`; its manifest."""
    from sim.cli import main

    with pytest.raises(SystemExit) as done:
        main(["backtest", *PAIR, *TINY, "--origins", "0", *chosen, "--out", str(out)])
    assert done.value.code in (0, None)
    return json.loads((out / "manifest.json").read_text())


def test_a_two_stage_backtest_refits_some_parameters_with_the_rest_held_at_the_first_stages(
    backtest_folder, tmp_path
):
    """`--refit` (the library's fit T): each fold's second stage fits the named parameters again and
    holds every other at the first stage's point value. Control: the plain backtest's fits are one
    stage and name nothing to refit."""
    import pandas as pd

    out = tmp_path / "two"
    chosen = ["--free", "mechanisms.reciprocity.fatigue=1:2", "--refit", "mechanisms.reciprocity.fatigue"]
    chosen += ["--refit", "mechanisms.bargaining.precision"]
    manifest = _tiny_backtest(out, chosen)
    assert manifest["refit"] == ["mechanisms.reciprocity.fatigue", "mechanisms.bargaining.precision"]
    for fit in manifest["calibrations"].values():
        first, second = fit["first_stage"]["point_values"], fit["point_values"]
        held = [k for k in first if k not in manifest["refit"]]
        assert len(held) > 10 and all(second[k] == first[k] for k in held)
        assert 1.0 <= second["mechanisms.reciprocity.fatigue"] <= 2.0
    assert not pd.read_csv(out / "units.csv").empty
    plain = json.loads((backtest_folder / "manifest.json").read_text())
    assert plain["refit"] == [] and all("first_stage" not in fit for fit in plain["calibrations"].values())
    from sim.analysis.backtest import check_refit

    one = check_refit([load_scenario(n) for n in PAIR], "mechanisms.bargaining.precision", {}, {})
    assert one == ["mechanisms.bargaining.precision"]  # a name given alone in the Python API


def test_backtest_errors_are_one_line_and_write_nothing(cli, tmp_path):
    out = tmp_path / "bt"
    assert "expected at least two scenarios" in one_error(cli, "backtest", "kosovo_2018", "--out", out)
    line = one_error(cli, "backtest", *PAIR, "--origins", "0,x", "--out", out)
    assert "--origins: expected whole days" in line
    assert "--origins: expected days of 0 or more" in one_error(
        cli, "backtest", *PAIR, "--origins", "-3", "--out", out
    )
    assert "--forecast-runs: expected a whole number of at least 2" in one_error(
        cli, "backtest", *PAIR, "--forecast-runs", "1", "--out", out
    )
    assert "--repeats: expected a whole number" in one_error(
        cli, "backtest", *PAIR, "--repeats", "0", "--out", out
    )
    assert "--free: expected PATH=LOW:HIGH" in one_error(cli, "backtest", *PAIR, "--free", "x", "--out", out)
    assert "--refit: expected a parameter the first stage fits" in one_error(
        cli, "backtest", *PAIR, "--refit", "mechanisms.activity.crisis",
        "--fix", "mechanisms.activity.crisis=0", "--out", out,
    )  # fmt: skip
    assert "--refit: expected every --free parameter refitted too" in one_error(
        cli, "backtest", *PAIR, "--free", "mechanisms.reciprocity.fatigue=1:2", "--refit",
        "mechanisms.bargaining.precision", "--out", out,
    )  # fmt: skip
    bare = tmp_path / "bare.yaml"
    text = (SCENARIOS / "kosovo_2018.yaml").read_text().split("\nrecord:")[0]
    bare.write_text(text.replace("name: kosovo_2018", "name: b"))
    assert "names no record" in one_error(cli, "backtest", "kosovo_2018", bare, "--out", out)
    assert not out.exists()


def test_repeats_average_each_unit_and_keep_each_repeats_skill(backtest_folder, cli, tmp_path):
    """Two repeats: repeat 0 is the plain backtest (control: its pooled skill is the one-repeat table's),
    repeat 1 moves every seed and gives other forecasts; the table scores each unit's mean over both,
    and repeats.csv keeps each repeat's pooled skill."""
    out = tmp_path / "bt2"
    code, text, err = cli("backtest", *PAIR, *TINY, "--origins", "0,3", "--repeats", "2", "--out", out)
    assert code == 0, err
    units = pd.read_csv(out / "units.csv")
    assert set(units["repeat"]) == {0, 1}
    repeats = pd.read_csv(out / "repeats.csv")
    single = pd.read_csv(backtest_folder / "backtest.csv", dtype={"origin": str})
    single = single[single["episode"] == "pooled"].set_index("metric")
    first = repeats[repeats["repeat"] == 0].set_index("metric")
    for metric in first.index:
        for col in ("skill_vs_climatology", "skill_vs_persistence"):
            assert first.loc[metric, col] == pytest.approx(single.loc[metric, col], abs=2e-4, nan_ok=True)
    days = units[units["metric"] == "crps_all_days"]
    by_repeat = days.pivot_table(index=["episode", "origin", "unit"], columns="repeat", values="model")
    assert (by_repeat[0] != by_repeat[1]).any()  # another seed, other forecasts
    table = pd.read_csv(out / "backtest.csv", dtype={"origin": str}).set_index(
        ["episode", "origin", "metric"]
    )
    assert table.loc[("pooled", "all", "crps_all_days"), "model"] == pytest.approx(
        by_repeat.mean(axis=1).mean(), abs=1e-4
    )
    assert "over 2 repeats" in text
    assert json.loads((out / "manifest.json").read_text())["repeats"] == 2


def test_mean_over_repeats_averages_the_same_unit_only():
    from sim.analysis.backtest import mean_over_repeats

    units = pd.DataFrame(
        {
            "episode": ["a", "a", "a", "a"],
            "origin": [0, 0, 0, 0],
            "metric": ["m", "m", "m", "m"],
            "unit": [1, 2, 1, 2],
            "model": [1.0, 5.0, 3.0, 5.0],
            "climatology": [2.0, 2.0, 2.0, 2.0],
            "persistence": [4.0, 4.0, 4.0, 4.0],
            "repeat": [0, 0, 1, 1],
        }
    )
    mean = mean_over_repeats(units).set_index("unit")
    assert list(mean.index) == [1, 2] and "repeat" not in mean
    assert mean.loc[1, "model"] == 2.0 and mean.loc[2, "model"] == 5.0 and mean.loc[1, "climatology"] == 2.0
