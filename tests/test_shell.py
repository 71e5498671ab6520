"""The shell around the model: defaults, output folders, sizes, hangs, faults and what the console prints."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sim import run
from sim.scenario.schema import Scenario

from .conftest import SCENARIOS


def sim_process(*args, cwd: Path, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`python -m sim ARGS` in a fresh process; the timeout only guards against a hang."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def reached(stages: Path) -> list[str]:
    """The stages a command reported in $SIM_STAGE_FILE."""
    return stages.read_text().split() if stages.exists() else []


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sim: error: ") and "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------- defaults


def test_sim_run_without_runs_is_an_ensemble_a_reader_can_quote(cli, tmp_path):
    code, out, err = cli("run", "--days", "5", "--out", tmp_path / "r")
    assert code == 0, err
    assert "kosovo_2021: 1000 runs" in out and "95% CI" in out
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["runs"] == 1000
    code, out, _ = cli("run", "--days", "5", "--runs", "3", "--out", tmp_path / "three")
    assert code == 0 and "kosovo_2021: 3 runs" in out  # control: --runs still decides


def test_runs_and_replicate_together_are_refused(cli, tmp_path):
    code, _, err = cli("run", "--runs", "10", "--replicate", "5", "--out", tmp_path / "r")
    assert code == 2 and "--replicate" in one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_tension_subtitle_names_both_peaks():
    """The median of the runs' own peaks is not the peak of the drawn median line; both are labelled."""
    result = run("kosovo_2021", runs=300)
    title = result.plot("tension").axes[0].get_title(loc="left")
    summary = result.summary()
    line = np.median(result._tension, axis=0)
    own, drawn = summary.median_peak_tension, float(line.max())
    assert round(own, 1) != round(drawn, 1)  # control: the two really differ
    assert f"runs' own peaks: median {own:.1f}" in title
    day = result.dates[int(line.argmax())]
    assert f"the median line peaks at {drawn:.1f} on {day:%d %b %Y}" in title


# ------------------------------------------------------------- output folders


def test_three_runs_at_once_without_out_all_succeed(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sim", "run", "--runs", "20", "--days", "5"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3 and all((f / "manifest.json").exists() for f in folders)


def test_default_folder_names_differ_between_processes(monkeypatch, tmp_path):
    from sim.results import result as result_module

    names = set()
    for pid in (101, 102):
        monkeypatch.setattr(result_module.os, "getpid", lambda pid=pid: pid)
        names.add(result_module.default_run_dir("kosovo_2021", root=tmp_path))
    assert len(names) == 2  # the same second, two processes: two folders


def test_non_empty_out_is_refused_before_the_simulation(cli, tmp_path, monkeypatch):
    stages = tmp_path / "stages"
    monkeypatch.setenv("SIM_STAGE_FILE", str(stages))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    code, _, err = cli("run", "--out", tmp_path / "taken")
    assert code == 2 and "already exists" in one_error_line(err)
    assert "running" not in reached(stages)  # refused before any run started
    code, _, _ = cli("run", "--runs", "2", "--days", "3", "--out", tmp_path / "free")
    assert code == 0 and "running" in reached(stages)  # control: the marker is written


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "kosovo_2021", "kosovo_2021_no_kfor", "--runs", "10"],
        ["sweep", "--vary", "mechanisms.mediation.weight=0.5:4:3", "--runs", "10"],
        ["sensitivity", "--samples", "4", "--runs", "5"],
        ["calibrate", "--population", "5", "--generations", "1", "--runs", "2"],
        ["calibrate", "kosovo_2018", "india_pakistan_2019", "--population", "5", "--generations", "1"],
        ["backtest", "kosovo_2018", "india_pakistan_2019", "--population", "5", "--generations", "1"],
        ["forecast", "--observed", "scenarios/records/kosovo_2021_events.csv", "--as-of", "2021-09-21"],
    ],
    ids=lambda c: f"{c[0]}-{len(c)}",
)
def test_analysis_commands_refuse_a_non_empty_out_before_working(command, cli, tmp_path, monkeypatch):
    from sim.analysis import backtest, calibrate, compare, forecast, sensitivity, sweep

    def no_work(*_args, **_kwargs):
        raise AssertionError("the analysis started")

    work = [(compare, "compare"), (sweep, "sweep"), (sensitivity, "analyse"), (calibrate, "calibrate")]
    work += [(calibrate, "calibrate_joint"), (backtest, "backtest"), (forecast, "forecast")]
    for module, name in work:
        monkeypatch.setattr(module, name, no_work)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    code, _, err = cli(*command, "--out", tmp_path / "taken")
    assert code == 2 and "already exists" in one_error_line(err)


@pytest.mark.parametrize("kind", ["under a file", "empty", "too long", "current folder"])
def test_unusable_out_is_one_line_and_exit_2(kind, cli, tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # an empty current folder
    (tmp_path / "file.txt").write_text("x")
    out = {
        "under a file": tmp_path / "file.txt" / "out",
        "empty": "",
        "too long": tmp_path / ("a" * 300),
        "current folder": ".",
    }[kind]
    code, _, err = cli("run", "--runs", "2", "--days", "3", "--out", out)
    assert code == 2, err
    one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "work"]
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_unwritable_out_is_one_line_and_exit_2(cli, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = cli("run", "--runs", "2", "--days", "3", "--out", locked / "out")
    finally:
        locked.chmod(0o700)
    assert code == 2 and "cannot write" in one_error_line(err)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o755), (0o027, 0o750)])
def test_run_folder_mode_follows_the_umask(mask, mode, cli, tmp_path):
    old = os.umask(mask)
    try:
        code, _, err = cli("run", "--runs", "2", "--days", "3", "--out", tmp_path / "r")
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == mode


def test_svg_figures_are_byte_identical_between_identical_runs(cli, tmp_path):
    for name in ("a", "b"):
        code, _, err = cli("run", "--runs", "20", "--days", "30", "--format", "svg", "--out", tmp_path / name)
        assert code == 0, err
    for figure in ("tension.svg", "dyads.svg"):
        a, b = (tmp_path / "a" / figure).read_bytes(), (tmp_path / "b" / figure).read_bytes()
        assert b"<svg" in a and b"clipPath" in a  # control: ids that used to be random are there
        assert a == b, figure


def test_schema_out_on_a_full_disk_keeps_the_old_file_and_says_so(tmp_path):
    """RLIMIT_FSIZE makes any write past 4 KB fail (EFBIG), as a full disk does (ENOSPC)."""
    target = tmp_path / "scenario.schema.json"
    target.write_text("previous contents\n")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = sim_process("schema", "--out", target, cwd=tmp_path, preexec_fn=small_files)
    assert proc.returncode == 2
    assert "cannot write" in one_error_line(proc.stderr)
    assert target.read_text() == "previous contents\n"  # not truncated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.schema.json"]  # no temporary file
    proc = sim_process("schema", "--out", target, cwd=tmp_path)  # control: without the limit
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text()) == Scenario.model_json_schema()


@pytest.mark.parametrize("where", ["folder", "missing folder"])
def test_schema_out_that_cannot_be_written_is_exit_2(where, cli, tmp_path):
    out = tmp_path if where == "folder" else tmp_path / "no" / "such.json"
    code, _, err = cli("schema", "--out", out)
    assert code == 2
    one_error_line(err)


# ------------------------------------------------------------- text is text, never markup


def test_file_names_with_brackets_are_printed_as_given(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("validate", "x[/y].yaml")
    assert code == 2 and one_error_line(err) == "sim: error: x[/y].yaml: file not found"
    code, _, err = cli("validate", "[bold]x.yaml")
    assert code == 2 and one_error_line(err) == "sim: error: [bold]x.yaml: file not found"
    shutil.copy(SCENARIOS / "kosovo_2021.yaml", tmp_path / "[red]ok:smile:.yaml")
    code, out, _ = cli("validate", "[red]ok:smile:.yaml")
    assert code == 0 and out.startswith("[red]ok:smile:.yaml: ok")


def test_out_folder_with_closing_tag_is_written_and_printed(cli, tmp_path):
    out = tmp_path / "o[/z]"
    code, stdout, err = cli("run", "--runs", "2", "--days", "3", "--out", out)
    assert code == 0, err
    assert f"files        {out}/" in stdout and (out / "manifest.json").exists()


def test_pattern_errors_show_the_pattern(cli, tmp_path):
    code, _, err = cli("show", "--set", "name=Bad")
    assert code == 2
    assert "String should match pattern '^[a-z][a-z0-9_]*$', found 'Bad'" in one_error_line(err)
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: {SCENARIOS / 'kosovo_2021.yaml'}\nmoves:\n  blockade:\n    cameo: 'x9'\n")
    code, _, err = cli("validate", path)
    assert code == 2
    assert "String should match pattern '^[0-2][0-9]{1,3}$', found 'x9'" in one_error_line(err)


# ------------------------------------------------------------- sizes


def test_workers_are_capped_at_the_cpus_and_the_blocks(cli, tmp_path, monkeypatch):
    from sim.ensemble import executors

    started = []
    pool = executors.worker_pool

    def recording_pool(workers):
        started.append(workers)
        return pool(workers)

    monkeypatch.setattr(executors, "worker_pool", recording_pool)
    code, _, err = cli("run", "--runs", "12", "--days", "5", "--workers", "999", "--out", tmp_path / "w")
    assert code == 0, err
    assert "sim: note:" in err and "not 999" in err
    assert all(n <= min(executors.cpu_count(), 12) for n in started)
    assert executors.usable_workers(999, 12, 5) == min(executors.cpu_count(), 2)  # 12 runs: two blocks
    assert executors.usable_workers(2, 100_000, 180) == min(executors.cpu_count(), 2)  # control


def test_a_billion_runs_is_refused_before_anything_is_allocated(cli, tmp_path, monkeypatch):
    stages = tmp_path / "stages"
    monkeypatch.setenv("SIM_STAGE_FILE", str(stages))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB
    code, _, err = cli("run", "--runs", "1000000000", "--out", tmp_path / "big")
    line = one_error_line(err)
    assert code == 2
    assert "--runs" in line and "of memory" in line and "--events none" in line and "fewer runs" in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # not gigabytes
    assert "running" not in reached(stages) and not (tmp_path / "big").exists()


def test_size_estimate_grows_with_runs_and_events():
    from sim.ensemble.executors import estimate

    small, big = estimate(7, 1000, 60), estimate(7, 100_000, 60)
    assert big.memory > small.memory and big.seconds == 100 * small.seconds
    assert estimate(7, 100_000, 60, "none").memory < big.memory


# ------------------------------------------------------------- hangs


class FakeScheduler:
    """A TCP server on 127.0.0.1 that accepts and then never answers, or answers in another protocol."""

    def __init__(self, answer: bytes | None):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.answer:
                conn.sendall(self.answer)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize(
    "answer", [None, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"], ids=["never answers", "another protocol"]
)
def test_a_scheduler_address_that_is_not_dask_is_a_one_line_error(answer, tmp_path):
    server = FakeScheduler(answer)
    try:
        proc = sim_process(
            *("run", "--runs", "5", "--days", "5", "--scheduler", f"tcp://127.0.0.1:{server.port}"),
            *("--out", tmp_path / "out"),
            cwd=tmp_path,
            env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"},
        )
    finally:
        server.close()
    assert proc.returncode == 2
    assert "--scheduler" in one_error_line(proc.stderr)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- faults


def test_a_corrupted_numba_cache_is_discarded_and_recompiled(tmp_path):
    """Garbage in the kernel's cache files (a crash mid-write, a full disk) must not break every run."""
    from numba.core.caching import _CacheLocator

    from sim.model import kernel

    cache = tmp_path / "numba"
    copy = cache / _CacheLocator.get_suitable_cache_subpath(kernel.__file__)
    copy.mkdir(parents=True)
    for path in Path(kernel.__file__).parent.joinpath("__pycache__").glob("*.nb[ic]"):
        shutil.copy(path, copy)  # a copy of the installed cache, when there is one (saves compiling)
    env = {"NUMBA_CACHE_DIR": str(cache)}
    args = ("run", "--runs", "5", "--days", "5", "--out")
    first = sim_process(*args, tmp_path / "a", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    broken = list(copy.glob("kernel.*.nb[ic]"))
    assert broken  # control: the run used (and if need be, wrote) this cache
    for path in broken:
        path.write_bytes(b"garbage\n")
    second = sim_process(*args, tmp_path / "b", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "cache" in second.stderr and "recompiling" in second.stderr and "Traceback" not in second.stderr
    third = sim_process(*args, tmp_path / "c", cwd=tmp_path, env=env)
    assert third.returncode == 0 and third.stderr == ""  # the cache was rewritten whole
    assert (tmp_path / "b" / "outcomes.csv").read_bytes() == (tmp_path / "a" / "outcomes.csv").read_bytes()


# ------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--replicate", "99999999999999999999", "--days", "3"],
        ["run", "--runs", "-5"],
        ["run", "--workers", "0", "--runs", "3"],
        ["run", "--days", "0"],
        ["run", "--set", "start_date=2021-02-30"],
        ["run", "--posterior", "no/such/posterior.csv", "--runs", "3"],
        ["show", "--set", "days=many"],
        ["validate", "no/such.yaml"],
        ["list", "extra"],
    ],
    ids=lambda a: " ".join(a),
)
def test_user_mistakes_exit_2_with_one_line(args, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*args)
    assert code == 2, err
    one_error_line(err)
    assert list(tmp_path.iterdir()) == []
