"""Bad input: one line naming the file and the field, exit 2, no traceback, nothing written."""

from __future__ import annotations

import contextlib
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
    "cameo root beyond 20": (
        edited(_set("moves.odd", {"cameo": "25", "goldstein": -3.0, "targets": "opponent"})),
        "moves.odd.cameo: expected a CAMEO event code whose root is 01 to 20, found '25'",
    ),
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
        "moves.blockade",
        "moves.blockade.cameo",
        "postures.blockade.max_days",
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
# A terminal's Ctrl-C goes to the whole foreground process group (the command and its worker
# processes), so the tests signal the group. Each waits for the command to report the stage it has
# reached ($SIM_STAGE_FILE) instead of sleeping a guessed time.

INTERRUPTED = "sim: interrupted; nothing written"
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Command:
    """`python -m sim ARGS` in its own process group, reporting its stages, with its own $TMPDIR."""

    def __init__(self, tmp_path: Path, *args: str):
        self.work = tmp_path / "work"
        self.tmp = tmp_path / "tmp"
        self.stages = tmp_path / "stages"
        self.work.mkdir()
        self.tmp.mkdir()
        env = {**os.environ, "SIM_STAGE_FILE": str(self.stages), "TMPDIR": str(self.tmp)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim", *args],
            cwd=self.work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def reached(self) -> list[str]:
        return self.stages.read_text().split() if self.stages.exists() else []

    def wait_for(self, stage: str) -> None:
        """Poll the stage file (a marker, not a guessed delay); the deadline only guards against a hang."""
        deadline = time.monotonic() + 600
        while stage not in self.reached():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                _, err = self.proc.communicate()
                pytest.fail(f"never reported {stage!r}; exit {self.proc.returncode}: {err[-2000:]}")
            time.sleep(0.01)

    def signal_group(self, signum: int) -> tuple[int, str]:
        os.killpg(self.proc.pid, signum)
        _, err = self.proc.communicate(timeout=600)  # a hang guard, not a measurement
        return self.proc.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_start_up_is_one_line_and_its_exit_code(signum, tmp_path):
    """Before the imports finish (seconds on a busy machine): no KeyboardInterrupt traceback, no exit -2."""
    cmd = Command(tmp_path, "run", "--runs", "20000", "--days", "1000", "--out", str(tmp_path / "work/out"))
    cmd.wait_for("armed")  # the handlers are set; the CLI and the engine are still being imported
    code, err = cmd.signal_group(signum)
    assert "running" not in cmd.reached()  # it was stopped during start-up
    assert code == CODES[signum], err
    assert err.strip() == INTERRUPTED
    assert list(cmd.work.iterdir()) == [] and list(cmd.tmp.iterdir()) == []


def test_ctrl_c_during_a_run_with_workers_exits_130_and_leaves_nothing(tmp_path):
    cmd = Command(
        tmp_path,
        *("run", "--runs", "20000", "--days", "1000", "--events", "none", "--workers", "2"),
        *("--out", str(tmp_path / "work/out")),
    )
    from sim.ensemble.executors import cpu_count

    if cpu_count() >= 2:  # (one CPU: the runs stay in the command's own process)
        cmd.wait_for("workers")  # worker processes are starting: they get the Ctrl-C too
    else:
        cmd.wait_for("running")
    code, err = cmd.signal_group(signal.SIGINT)
    assert code == 130, err
    assert err.strip() == INTERRUPTED  # no traceback from the command or any worker
    assert list(cmd.work.iterdir()) == [] and list(cmd.tmp.iterdir()) == []


def test_ctrl_c_with_a_local_dask_cluster_is_one_line_and_leaves_no_scratch(tmp_path):
    cmd = Command(
        tmp_path,
        *("run", "--runs", "20000", "--days", "1000", "--events", "none"),
        *("--scheduler", "local", "--workers", "2", "--out", str(tmp_path / "work/out")),
    )
    cmd.wait_for("running")  # the cluster's worker processes are up
    assert any(p.name.startswith("sim-dask-") for p in cmd.tmp.iterdir())  # control: its scratch space
    code, err = cmd.signal_group(signal.SIGINT)
    assert code == 130, err
    assert err.strip() == INTERRUPTED  # no KeyboardInterrupt from the workers, no Dask log lines
    assert list(cmd.work.iterdir()) == [] and list(cmd.tmp.iterdir()) == []


def test_sigterm_while_saving_leaves_no_partial_folder_and_no_spill(tmp_path):
    cmd = Command(
        tmp_path,
        *("run", "--runs", "3000", "--days", "400", "--events", "none", "--format-data", "csv"),
        *("--out", str(tmp_path / "work/out")),
    )
    cmd.wait_for("saving")
    spilled = [p.name for p in cmd.tmp.iterdir()]
    assert any(name.startswith("sim-trajectories-") for name in spilled)  # control: the spill exists now
    code, err = cmd.signal_group(signal.SIGTERM)
    assert code == 143, err
    assert err.strip() == INTERRUPTED
    assert list(cmd.work.iterdir()) == []  # neither the folder nor a .partial one beside it
    assert list(cmd.tmp.iterdir()) == []  # the spilled trajectories went too


def test_a_signal_whose_exception_was_swallowed_is_raised_at_the_next_checkpoint():
    """Python may run the handler inside a weakref callback, where its exception is lost."""
    from sim.errors import Interrupted, check_interrupted, on_signal, signals_handled

    with signals_handled():
        check_interrupted()  # control: nothing received, nothing raised
        with contextlib.suppress(Interrupted):
            on_signal(signal.SIGTERM, None)  # the first exception, swallowed
        on_signal(signal.SIGINT, None)  # a second signal during clean-up does not raise again
        with pytest.raises(Interrupted) as info:
            check_interrupted()
    assert info.value.exit_code == 143
    check_interrupted()  # handling ended: nothing pending


def test_the_start_up_handler_says_and_returns_what_the_cli_does():
    import sim.__main__ as entry_module
    from sim import errors

    assert entry_module._EXIT_CODES == errors.EXIT_CODES == {signal.SIGINT: 130, signal.SIGTERM: 143}
    assert entry_module._INTERRUPTED == errors.INTERRUPTED == INTERRUPTED


def test_a_signal_as_the_run_folder_is_made_leaves_nothing(tmp_path, monkeypatch):
    """The temporary folder is made inside the clean-up: a signal landing the moment it exists (here,
    raised by mkdir right after making it) leaves no .partial folder behind."""
    from pathlib import Path

    from sim.errors import Interrupted
    from sim.results import files

    made = []
    real_mkdir = Path.mkdir

    def mkdir_then_signal(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if self.name.endswith(".partial"):
            made.append(self)
            raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(Path, "mkdir", mkdir_then_signal)
    with pytest.raises(Interrupted), files.atomic_folder(tmp_path / "out"):
        pass
    assert made and not made[0].exists()  # control: the folder had been made when the signal came
    assert list(tmp_path.iterdir()) == []
