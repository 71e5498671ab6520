"""What-ifs as data: controls generated from the schema, validated edits, exports that rerun."""

from __future__ import annotations

import io
import zipfile

import pytest

from sim import ScenarioError, load_scenario, run
from sim.analysis.sensitivity import calibratable
from sim.app.whatif import build, controls, export_yaml, zip_run


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
    path = tmp_path / "w.yaml"
    path.write_text(export_yaml("kosovo_2021", "w", changes, events))
    direct = run(build("kosovo_2021", changes, events), runs=40)
    exported = run(load_scenario(path), runs=40)
    assert direct.outcomes.equals(exported.outcomes)


def test_zip_holds_the_run_folder():
    data = zip_run(run("kosovo_2021", runs=5, days=20))
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"kosovo_2021/trajectories.csv", "kosovo_2021/manifest.json", "kosovo_2021/tension.png"} <= names
