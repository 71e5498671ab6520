"""Bundled scenarios, shipped data, the JSON Schema, the CLI's outputs and the Python API."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from sim import ScenarioError, bundled_scenarios, load_scenario, run
from sim.scenario.cameo import goldstein
from sim.scenario.schema import Scenario

from .conftest import SCENARIOS, SHARED

EXPECTED = {
    "kosovo_2021",
    "kosovo_2021_no_eu_mediation",
    "kosovo_2021_russia_backs_serbia",
    "kosovo_2021_early_police_withdrawal",
    "kosovo_2021_no_kfor",
    "kosovo_2021_with_usa",
    "kosovo_2011",
    "kosovo_2018",
    "korea_2015",
    "india_pakistan_2019",
}


def test_every_bundled_scenario_is_valid():
    assert set(bundled_scenarios()) >= EXPECTED
    for name in EXPECTED:
        sc = load_scenario(SCENARIOS / f"{name}.yaml")
        assert sc.name == name


def test_committed_json_schema_matches_the_models():
    committed = json.loads((SCENARIOS / "scenario.schema.json").read_text())
    assert committed == Scenario.model_json_schema()


@pytest.mark.skipif(not SHARED.exists(), reason="reference data not beside the repository")
@pytest.mark.parametrize("name", ["cameo_goldstein.csv", "cameo_codes.csv"])
def test_shipped_data_is_an_unchanged_copy_of_the_reference(name):
    from importlib import resources

    shipped = resources.files("sim.data").joinpath(name).read_bytes()
    assert shipped == (SHARED / "data" / name).read_bytes()


@pytest.mark.skipif(not SHARED.exists(), reason="reference data not beside the repository")
@pytest.mark.parametrize(
    "name",
    [
        "kosovo_2021_events.csv",
        "kosovo_2011_events.csv",
        "kosovo_2018_events.csv",
        "korea_2015_events.csv",
        "india_pakistan_2019_events.csv",
    ],
)
def test_shipped_records_are_unchanged_copies_of_the_reference(name):
    assert (SCENARIOS / "records" / name).read_bytes() == (SHARED / "data" / name).read_bytes()


def test_catalogue_weights_come_from_the_cameo_table():
    sc = load_scenario("kosovo_2021")
    with open(SCENARIOS.parent / "sim" / "data" / "cameo_goldstein.csv") as fh:
        table = {row["code"]: float(row["goldstein"]) for row in csv.DictReader(fh)}
    for move in sc.moves.values():
        if move.cameo and move.goldstein is None:
            assert goldstein(move.cameo) == table.get(move.cameo, table.get(move.cameo[:3]))
    assert goldstein("1442") == -7.5 and goldstein("0256") == -0.3
    assert goldstein("1449") == goldstein("144")  # missing four-digit code falls back


def test_usa_variant_adds_an_eighth_actor_with_no_code():
    sc = load_scenario("kosovo_2021_with_usa")
    assert len(sc.actors) == 8 and "usa" in sc.actors
    result = run(sc, runs=20)
    assert "usa" in set(result.events["actor"])
    assert any(c.startswith("tension_usa-") or c.endswith("-usa") for c in result.trajectories)
    assert "posture_usa" in result.trajectories


def test_no_kfor_variant_removes_nato_everywhere():
    sc = load_scenario("kosovo_2021_no_kfor")
    assert "nato" not in sc.actors and "nato" not in sc.affinities


def test_extends_appends_events_and_overrides_values():
    base = load_scenario("kosovo_2021")
    early = load_scenario("kosovo_2021_early_police_withdrawal")
    assert early.events[: len(base.events)] == base.events
    assert early.events[len(base.events)].move == "withdraw_police"
    backed = load_scenario("kosovo_2021_russia_backs_serbia")
    assert backed.actors["russia"].resolve == 0.95 and backed.actors["serbia"] == base.actors["serbia"]


def test_set_override_is_validated_like_the_file():
    sc = load_scenario("kosovo_2021", ["actors.russia.resolve=0.9", "mechanisms.rationality=2"])
    assert sc.actors["russia"].resolve == 0.9 and sc.mechanisms.rationality == 2


def test_api_result_tables_summary_and_plots(tmp_path):
    result = run("kosovo_2021", runs=30, days=45)
    traj, events, outcomes = result.trajectories, result.events, result.outcomes
    assert len(traj) == 30 * 45 and traj["date"].iloc[0] == "2021-09-20"
    assert traj["tension"].between(0, 100).all()
    assert {"run", "day", "date", "actor", "target", "move", "cameo", "goldstein"} <= set(events)
    assert set(outcomes["outcome"]) <= {"resolved", "still tense", "armed clash"}
    summary = result.summary()
    assert sum(share for share, _, _ in summary.shares.values()) == pytest.approx(1.0)
    assert "resolved" in str(summary)
    fig = result.plot("tension")
    assert "kosovo_2021" in fig.axes[0].get_title(loc="left")
    with pytest.raises(ValueError):
        result.plot("pie")


def test_cli_run_writes_every_output(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("run", "kosovo_2021", "--runs", "40", "--out", out)
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert names == {
        "trajectories.csv",
        "events.csv",
        "outcomes.csv",
        "manifest.json",
        "scenario.yaml",
        "tension.png",
        "dyads.png",
        "posterior.csv",  # the bundled scenario draws each run's parameters from its posterior: kept
    }
    # the resolved scenario reruns the same numbers
    code, _, err = cli("run", out / "scenario.yaml", "--runs", "40", "--out", tmp_path / "again")
    assert code == 0, err
    assert (tmp_path / "again" / "outcomes.csv").read_bytes() == (out / "outcomes.csv").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == 40 and manifest["seed"] == 20210920 and len(manifest["scenario_sha256"]) == 64
    assert manifest["versions"]["mesa"].startswith("3.")
    outcomes = pd.read_csv(out / "outcomes.csv")
    assert len(outcomes) == 40
    assert "armed clash" in stdout and "95% CI" in stdout and str(out) in stdout
    assert (out / "tension.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_default_folder_svg_show_and_schema(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = cli("run", "--days", "10", "--format", "svg")
    assert code == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("kosovo_2021-") and (folder / "tension.svg").exists()
    code, stdout, _ = cli("show", "kosovo_2021_with_usa", "--set", "actors.usa.resolve=0.8")
    assert code == 0 and "United States" in stdout and "0.80" in stdout
    code, stdout, _ = cli("schema")
    assert code == 0 and json.loads(stdout)["title"] == "Scenario"


def test_single_run_and_replicate_flag(cli, tmp_path):
    code, _stdout, _ = cli("run", "--replicate", "5", "--days", "20", "--out", tmp_path / "r5")
    assert code == 0
    traj = pd.read_csv(tmp_path / "r5" / "trajectories.csv")
    assert set(traj["run"]) == {5} and len(traj) == 20


def test_scripted_parameter_change_takes_effect_on_its_day():
    from sim.model.model import CrisisModel
    from sim.runner import prepare

    sc = prepare(
        "kosovo_2021",
        overrides={"events": [{"day": 4, "set": {"mechanisms.mediation.weight": 0.0}}]},
    )
    model = CrisisModel(sc, replicates=3)
    weights = []
    while model.running:
        model.step()
        weights.append(float(model.spec.mech["mediation.weight"][0]))
    before = sc.mechanisms.mediation.weight
    assert before > 0.0 and weights[:4] == [before] * 4 and set(weights[4:]) == {0.0}


def test_invalid_scripted_parameter_change_is_reported_at_load(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "extends: "
        + str(SCENARIOS / "kosovo_2021.yaml")
        + "\nevents:\n  - {day: 4, set: {mechanisms.mediation.weight: -1}}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "mechanisms.mediation.weight" in str(info.value) and "events.3" in str(info.value)


def test_the_api_refuses_an_ensemble_too_large_before_allocating():
    import tracemalloc

    from sim import UserError

    tracemalloc.start()
    with pytest.raises(UserError, match="runs of 60 days need about"):
        run("kosovo_2021", runs=10**9)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20  # refused from the estimate, not after trying
    assert len(run("kosovo_2021", runs=3).outcomes) == 3  # control: a small ensemble runs


def test_a_set_value_wins_over_the_posterior_draws():
    """`--set` of a calibrated parameter holds in every replicate; the posterior draws only the rest.

    Control: without the override the same runs have accidents, so the check could fail.
    """
    assert load_scenario("kosovo_2021").posterior, "the bundled scenario draws from its posterior"
    plain = run("kosovo_2021", runs=200, events="all")
    off = run("kosovo_2021", runs=200, events="all", overrides={"mechanisms.accidents.hazard": 0.0})
    assert (plain.events["kind"] == "accident").any()
    assert not (off.events["kind"] == "accident").any()


def test_a_variant_or_slider_value_wins_over_the_posterior_draws():
    """A scenario that changes a calibrated value (a variant, the dashboard's sliders) keeps it."""
    raw = load_scenario("kosovo_2021").model_dump(mode="json")
    raw["mechanisms"]["accidents"]["hazard"] = 0.0
    changed = run(raw, runs=200, events="all")
    assert not (changed.events["kind"] == "accident").any()
    raw["mechanisms"]["accidents"]["hazard"] = load_scenario("kosovo_2021").mechanisms.accidents.hazard
    same = run(raw, runs=200, events="all")  # control: the shipped value is drawn from the posterior again
    assert (same.events["kind"] == "accident").any()


def test_the_bundled_scenario_carries_its_posteriors_point_values():
    """Every calibrated parameter is drawn per replicate: the YAML holds exactly the posterior's point
    values (a value that differed would be taken as the user's own and held fixed)."""
    from sim.ensemble.posterior import draw_posterior, point_values, read_posterior
    from sim.scenario.batch import value_at
    from sim.scenario.record import locate

    sc = load_scenario("kosovo_2021")
    path = locate(sc, sc.posterior, field="posterior")
    points = point_values(read_posterior(path))
    assert {k: value_at(sc, k) for k in points} == points
    assert set(draw_posterior(path, [0, 1], sc.seed, sc)) == set(points)


def test_a_posterior_next_to_a_scenario_file_is_found_after_days_or_set(tmp_path):
    """`--days` and `--set` revalidate a loaded scenario; its posterior is still found next to its file.

    Control: the same scenario as a bare mapping has no folder, so the file is not found there.
    """
    import shutil

    from sim import UserError

    shutil.copyfile(SCENARIOS / "posteriors" / "kosovo_2021.csv", tmp_path / "mine.csv")
    (tmp_path / "mine.yaml").write_text(
        f"name: mine\nextends: {SCENARIOS / 'kosovo_2021.yaml'}\nposterior: mine.csv\n"
    )
    sc = load_scenario(tmp_path / "mine.yaml")
    assert len(run(sc, runs=2, days=3).outcomes) == 2
    assert len(run(sc, runs=2, overrides={"mechanisms.accidents.hazard": 0.0}).outcomes) == 2
    with pytest.raises(UserError, match=r"mine\.csv"):
        run(sc.model_dump(mode="json"), runs=2, days=3)
