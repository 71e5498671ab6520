"""Bad input: one line naming the file and the field, exit 2, no traceback, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import ScenarioError, load_scenario
from sim.scenario.loader import resolve_raw

from .conftest import SCENARIOS

BASE = (SCENARIOS / "kosovo_2021.yaml").read_text()


def variant(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(change) -> str:
    data = yaml.safe_load(BASE)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def _set(path, value):
    def change(data):
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key) if key.isdigit() else key]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value

    return change


FILE_CASES = {
    "wrong type": (edited(_set("actors.serbia.capability", "high")), "actors.serbia.capability"),
    "unknown key": (
        BASE.replace("resolve: 0.75          # calls", "resolv: 0.75  # calls"),
        "did you mean 'resolve'",
    ),
    "unknown actor": (edited(_set("affinities.serbia.montenegro", 0.5)), "montenegro"),
    "unknown event target": (edited(_set("events.0.target", "serbai")), "events.0.target"),
    "unknown move": (edited(_set("events.1.move", "nuke")), "events.1.move"),
    "bad date": (BASE.replace("start_date: 2021-09-20", "start_date: 2021-13-40"), "start_date"),
    "negative days": (BASE.replace("days: 60 ", "days: -5 "), "days"),
    "probability above 1": (
        edited(_set("actors.kosovo.risk_tolerance", 1.5)),
        "actors.kosovo.risk_tolerance",
    ),
    "broken yaml": (BASE.replace("actors:\n", "actors: [\n", 1), "invalid YAML"),
    "python tag": ("!!python/object/apply:os.system ['echo pwned']\n", "tag not allowed"),
    "empty file": ("", "empty"),
    "not a mapping": ("- just\n- a list\n", "expected a mapping"),
    "unknown role": (edited(_set("actors.russia.role", "overlord")), "actors.russia.role"),
    "conflicting affinity": (edited(_set("affinities.kosovo.serbia", 0.5)), "conflicts with"),
    "missing field": (edited(lambda d: d["actors"]["eu"].pop("resolve")), "actors.eu.resolve"),
    "missing base": ("name: x\nextends: nowhere.yaml\n", "extends"),
    "event without move": (edited(_set("events.0.move", None)), "events.0"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_malformed_scenario_file(case, cli, tmp_path, monkeypatch):
    text, expected = FILE_CASES[case]
    path = variant(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", path, "--out", tmp_path / "out")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and expected in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


FLAG_CASES = {
    "bad --set path": (["--set", "actors.rusia.resolve=0.9"], "did you mean 'russia'"),
    "--set out of range": (["--set", "actors.russia.resolve=2"], "actors.russia.resolve"),
    "--set wrong type": (["--set", "days=many"], "days"),
    "--set not an assignment": (["--set", "actors.russia.resolve"], "PATH=VALUE"),
    "negative --days": (["--days", "-3"], "days"),
    "zero --runs": (["--runs", "0"], "runs"),
    "negative --replicate": (["--replicate", "-1"], "replicate"),
    "non-numeric --runs": (["--runs", "abc"], "--runs"),
    "unknown flag": (["--colour", "red"], "--colour"),
    "bad --format": (["--format", "gif"], "--format"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_malformed_flag(case, cli, tmp_path, monkeypatch):
    flags, expected = FLAG_CASES[case]
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", SCENARIOS / "kosovo_2021.yaml", *flags, "--out", tmp_path / "o")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", "no/such/scenario.yaml")
    assert code == 2
    assert err.strip() == "sim: error: no/such/scenario.yaml: file not found"
    assert list(tmp_path.iterdir()) == []


def test_validate_reports_each_bad_file_and_exits_2(cli, tmp_path):
    bad = variant(tmp_path, edited(_set("days", 0)))
    code, out, err = cli("validate", SCENARIOS / "kosovo_2021.yaml", bad)
    assert code == 2
    assert "kosovo_2021.yaml: ok" in out
    assert f"{bad}: days:" in err


def test_existing_output_folder_is_refused(cli, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    code, _, err = cli("run", "kosovo_2021", "--days", "5", "--out", tmp_path / "taken")
    assert code == 2 and "already exists" in err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


# ------------------------------------------------------------- property-based

BASE_RAW, _ = resolve_raw(SCENARIOS / "kosovo_2021.yaml")
PATHS = sorted(
    {
        "name",
        "days",
        "seed",
        "start_date",
        "description",
        "extends",
        "actors.serbia",
        "actors.serbia.capability",
        "actors.kosovo.role",
        "actors.eu.leverage",
        "actors.eu.leverage.serbia",
        "actors.russia.postures",
        "affinities",
        "affinities.serbia",
        "affinities.serbia.kosovo",
        "mechanisms",
        "mechanisms.rationality",
        "mechanisms.tension.decay",
        "mechanisms.outcome.resolution_window",
        "events",
        "events.0",
        "events.0.day",
        "events.1.target",
        "moves",
        "moves.roadblock",
        "moves.roadblock.cameo",
        "postures.roadblocks.max_days",
        "roles.state.moves",
        "actors",
    }
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _loads_or_clean_error(source, overrides=None) -> None:
    try:
        scenario = load_scenario(source, overrides)
    except ScenarioError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    assert scenario.days >= 1 and len(scenario.actors) >= 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=values)
def test_property_any_override_gives_a_scenario_or_a_clean_error(path, value):
    _loads_or_clean_error(SCENARIOS / "kosovo_2021.yaml", {path: value})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.text(max_size=30), value=values)
def test_property_any_set_path_gives_a_scenario_or_a_clean_error(path, value):
    _loads_or_clean_error(SCENARIOS / "kosovo_2021.yaml", {path: value})


@settings(max_examples=150, deadline=None)
@given(doc=st.dictionaries(st.sampled_from([*BASE_RAW, "x"]), values, max_size=8))
def test_property_any_document_gives_a_scenario_or_a_clean_error(doc):
    _loads_or_clean_error(doc)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_property_any_file_text_gives_a_scenario_or_a_clean_error(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("doc") / "s.yaml"
    path.write_text(text)
    _loads_or_clean_error(path)


# ------------------------------------------------------------- interruption


def test_ctrl_c_exits_130_and_leaves_no_run_folder(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            "kosovo_2021",
            "--runs",
            "50000",
            "--days",
            "2000",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
