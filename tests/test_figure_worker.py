"""The figure worker of `sim run`: the same bytes as drawing here, a fallback when it fails, no stray process.

No durations here: what the worker saves is measured by benchmarks/bench_ensemble.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim import runner
from sim.plots.plotdata import KINDS
from sim.plots.render import render
from sim.plots.worker import FigureWorker

from .conftest import REPO


@pytest.fixture(scope="module")
def result():
    res = runner.run("kosovo_2021", runs=40, days=20)
    yield res
    res.close()


@pytest.mark.parametrize("formats", [("png",), ("svg",)])
def test_the_worker_draws_the_bytes_this_process_draws(result, formats):
    worker = FigureWorker(formats)
    try:
        for kind in KINDS:
            worker.submit(kind, result.plot_data(kind))
        for kind in reversed(KINDS):  # in any order
            assert worker.collect(kind, formats) == render(kind, result.plot_data(kind), formats), kind
    finally:
        worker.close()


def test_a_worker_that_died_leaves_the_figures_to_the_command(result, tmp_path):
    result.save(tmp_path / "here")
    worker = FigureWorker(("png",))
    try:
        worker.submit("dyads", result.plot_data("dyads"))
        worker._proc.kill()
        worker._proc.wait()
        result.save(tmp_path / "worker", painter=worker)  # tension cannot be handed over, dyads never come
    finally:
        worker.close()
    for kind in KINDS:
        assert (tmp_path / "worker" / f"{kind}.png").read_bytes() == (
            tmp_path / "here" / f"{kind}.png"
        ).read_bytes()


def test_another_format_than_the_workers_is_drawn_here(result, tmp_path):
    worker = FigureWorker(("png",))
    try:
        for kind in KINDS:
            worker.submit(kind, result.plot_data(kind))
        result.save(tmp_path / "svg", formats=("svg",), painter=worker)
    finally:
        worker.close()
    assert (tmp_path / "svg" / "tension.svg").exists() and not (tmp_path / "svg" / "tension.png").exists()


# ------------------------------------------------------------- no stray process
def _workers_of(stage_file: Path) -> list[int]:
    """Process ids of figure workers started by the command that reports to `stage_file`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"sim.plots.worker" not in (entry / "cmdline").read_bytes():
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"SIM_STAGE_FILE={stage_file}".encode() in environ:
            found.append(int(entry.name))
    return found


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    stages, tmp = tmp_path / "stages", tmp_path / "tmp"
    tmp.mkdir()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", "--runs", "20000", "--days", "1000", "--events", "none"],
        cwd=tmp_path,
        env={**os.environ, "SIM_STAGE_FILE": str(stages), "PYTHONPATH": path, "TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600  # guards against a hang only
    while "running" not in (stages.read_text().split() if stages.exists() else []):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"never reported 'running': {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    return proc, stages


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; whoever adopted it reaps it in its own time


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 120  # the worker may still be importing matplotlib; a hang guard
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def command(tmp_path):
    """A long `sim run` that has reached its run, and the process id of its figure worker."""
    from sim.ensemble.executors import cpu_count

    if not Path("/proc/self/environ").exists():
        pytest.skip("reads /proc")
    if cpu_count() < 2:
        pytest.skip("one CPU: no figure worker")
    proc, stages = _start(tmp_path)
    workers = _workers_of(stages)
    assert len(workers) == 1  # control: the worker is there
    yield proc, workers
    if proc.poll() is None:  # a failed test: no stray command either
        proc.kill()
        proc.communicate()


def test_ctrl_c_stops_the_worker_with_the_command(command, tmp_path):
    proc, workers = command
    # the terminal's Ctrl-C goes to the command's group; the worker, in a session of its own, is spared
    os.killpg(proc.pid, signal.SIGINT)

    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130 and err.decode().strip() == "sim: interrupted; nothing written"
    assert _gone(workers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stages", "tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_worker_whose_command_was_killed_ends_by_itself(command):
    proc, workers = command
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all: the worker reads the end of its input
    proc.communicate(timeout=600)
    assert _gone(workers)
