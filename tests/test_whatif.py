"""What-ifs as data: controls generated from the schema, validated edits, exports that rerun."""

from __future__ import annotations

import io
import math
import shutil
import zipfile

import pytest

from sim import ScenarioError, load_scenario, run
from sim.analysis.sensitivity import calibratable
from sim.app.whatif import build, controls, export_yaml, slider_value, zip_run
from sim.scenario.loader import BUNDLED


def test_controls_come_from_the_schema():
    sc = load_scenario("kosovo_2021_with_usa")
    paths = {c.path for c in controls(sc)}
    for actor in sc.actors:  # an added actor gets its sliders with no code
        for stance in ("capability", "resolve", "risk_tolerance", "hawkishness"):
            assert f"actors.{actor}.{stance}" in paths
    assert set(calibratable()) <= paths
    for c in controls(sc):
        assert c.low <= c.value <= c.high and c.step > 0 and c.help


def test_build_validates_like_a_file():
    sc = build(
        "kosovo_2021",
        {"actors.russia.resolve": 0.9},
        [{"day": 4, "actor": "kosovo", "move": "withdraw_police", "target": "kosovo_serbs"}],
    )
    assert sc.actors["russia"].resolve == 0.9 and sc.events[-1].move == "withdraw_police"
    with pytest.raises(ScenarioError, match=r"actors\.russia\.resolve"):
        build("kosovo_2021", {"actors.russia.resolve": 1.7}, [])
    with pytest.raises(ScenarioError, match=r"events\.3\.target"):
        build("kosovo_2021", {}, [{"day": 4, "actor": "kosovo", "move": "withdraw_police", "target": "mars"}])


def test_export_reruns_the_same_what_if(tmp_path):
    changes = {"mechanisms.mediation.weight": 1.2}
    events = [{"day": 5, "actor": "kosovo", "move": "withdraw_police", "target": "kosovo_serbs"}]
    text = export_yaml("kosovo_2021", "w", changes, events)
    # the base by its name, never a path on the server (the download lands anywhere)
    assert (
        "extends: kosovo_2021.yaml\n" in text
        and str(BUNDLED) not in text
        and "/" not in text.split("extends:")[1]
    )
    path = tmp_path / "w.yaml"  # saved far from the bundled scenarios
    path.write_text(text)
    direct = run(build("kosovo_2021", changes, events), runs=40)
    exported = run(load_scenario(path), runs=40)
    assert direct.outcomes.equals(exported.outcomes)
    control = run(load_scenario("kosovo_2021"), runs=40)
    assert not control.outcomes.equals(exported.outcomes)


def test_export_of_a_users_own_scenario_extends_it_by_file_name(tmp_path):
    mine = tmp_path / "work" / "mine.yaml"
    mine.parent.mkdir()
    shutil.copy(BUNDLED / "kosovo_2021.yaml", mine)
    text = export_yaml(mine, "mine_whatif", {"actors.russia.resolve": 0.9}, [])
    assert "extends: mine.yaml\n" in text and str(tmp_path) not in text
    saved = mine.parent / "mine_whatif.yaml"
    saved.write_text(text)
    assert load_scenario(saved).actors["russia"].resolve == 0.9


def test_sliders_show_the_scenarios_values_exactly():
    # the browser snaps a slider to min + k * step: every default must be such a point,
    # or the unmoved page shows (and used to send) mediation.weight 1.97 for 2.0
    for name in ("kosovo_2021", "kosovo_2021_with_usa"):
        for c in controls(load_scenario(name)):
            k = (c.value - c.low) / c.step
            assert abs(k - round(k)) < 1e-6, (c.path, c.value, c.low, c.step)
            assert 20 <= (c.high - c.low) / c.step <= 1000  # a grid a slider can still be moved along


def test_slider_reports_change_only_what_the_user_moved():
    c = next(c for c in controls(load_scenario("kosovo_2021")) if c.path == "mechanisms.mediation.weight")
    assert slider_value(c, c.value) is None  # the unmoved slider
    assert slider_value(c, c.value + c.step / 3) is None  # a snap to the nearest grid point
    assert slider_value(c, c.value - c.step) == round(c.value - c.step, 6)  # one step is a change
    for bad in (c.high + 1, c.low - 1, math.nan, math.inf, "2", None, True, [2.0]):
        with pytest.raises(ScenarioError, match=r"mechanisms\.mediation\.weight: expected"):
            slider_value(c, bad)


def test_a_default_outside_the_calibration_range_is_not_clamped(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text("name: wide\nextends: kosovo_2021.yaml\nmechanisms:\n  mediation:\n    weight: 7.5\n")
    c = next(c for c in controls(load_scenario(path)) if c.path == "mechanisms.mediation.weight")
    assert c.high == 7.5 and slider_value(c, 7.5) is None


def test_zip_holds_the_run_folder():
    data = zip_run(run("kosovo_2021", runs=5, days=20))
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"kosovo_2021/trajectories.csv", "kosovo_2021/manifest.json", "kosovo_2021/tension.png"} <= names
