"""From command to picture (issue 12): `sim run` does less besides the engine, and writes the same bytes.

No durations here (the figures are in benchmarks/bench_ensemble.py): the tests
check what makes the end-to-end run slow or large is gone, and that every file
of a run folder is byte for byte what the slower path writes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import ndtri

from sim import runner
from sim.ensemble import executors, tables
from sim.errors import UserError
from sim.results.outcomes import WILSON_Z, wilson

from .conftest import REPO

# `python -c REPORT ARGS` is `sim ARGS`; at exit it prints whether scipy, scipy.stats and scipy.linalg were
# loaded and whether the collector had frozen objects, as the interpreter is about to tear the modules down
REPORT = """
import atexit, gc, sys

def report():
    for name in ("scipy", "scipy.stats", "scipy.linalg"):
        print(name, name in sys.modules, end=" ")
    print("frozen", gc.get_freeze_count() > 0)

atexit.register(report)
print("before", gc.get_freeze_count())
from sim.__main__ import entry

entry(sys.argv[1:])
"""


def _sim(args: list[str], cwd) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-c", REPORT, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,  # guards against a hang only
    )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 50, 199, 1000, 9999, 10_000, 123_457])
def test_wilson_interval_is_scipys_to_the_bit(n):
    ks = sorted({0, 1, 2, n // 3, n // 2, n - 2, n - 1, n} & set(range(n + 1)))
    for k in ks:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == (float(ci.low), float(ci.high)), (k, n)


def test_the_wilson_quantile_is_scipys_to_the_bit():
    assert float(ndtri(0.5 + 0.5 * 0.95)) == WILSON_Z


def test_a_run_imports_no_scipy_nor_sweeps_memory_at_exit(tmp_path):
    proc = _sim(["run", "kosovo_2021", "--runs", "3", "--days", "5", "--out", "r"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "tension.png").exists()
    lines = proc.stdout.splitlines()
    assert lines[0] == "before 0"  # control: nothing was frozen before the command ran
    # numba's version check and BLAS check too
    assert lines[-1] == "scipy False scipy.stats False scipy.linalg False frozen True"


# numba loads this module with the typing and lowering rules of everything it compiles, and nothing else does
RULES = "numba.np.polynomial.polynomial_functions"


def _rules_loaded(code: str, cwd) -> bool:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint({RULES!r} in sys.modules)"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=900,  # a cold compile on a busy machine; guards against a hang only
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1] == "True"


def test_the_cached_engine_is_loaded_without_numbas_compile_rules(tmp_path):
    """The kernel's machine code comes from numba's cache with numba's runtime and nothing else; a
    function that must be compiled still gets every rule (the control), and the same numbers."""
    engine = "from sim import run\nprint(run('kosovo_2021', runs=3, days=5).summary())"
    _rules_loaded(engine, tmp_path)  # fills numba's cache if this checkout's is empty
    assert not _rules_loaded(engine, tmp_path)
    assert _rules_loaded("import numba\nassert numba.njit(lambda x: x + 1)(1) == 2", tmp_path)


def test_control_a_command_that_needs_scipy_stats_loads_it(tmp_path):
    """The same report around `sim compare` (bootstrap intervals) sees scipy.stats: the check can fail."""
    args = ["compare", "kosovo_2021", "kosovo_2021", "--runs", "3", "--days", "5", "--out", "c"]
    proc = _sim(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "scipy True scipy.stats True scipy.linalg True frozen True"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def small_spill(monkeypatch):
    """Spill ensembles above 1,000 replicate-days, so a few hundred short runs go through the spill."""
    monkeypatch.setattr(executors, "SPILL_WORK", 1_000)
    monkeypatch.setattr(runner, "SPILL_WORK", 1_000)


RUNS, DAYS = 1_100, 12  # three chunks of runs (500, 500, 100): several row groups, one of them short


def test_parquet_streamed_while_running_is_the_file_written_afterwards(tmp_path, small_spill):
    streamed = runner.run("kosovo_2021", runs=RUNS, days=DAYS, spill_format="parquet")
    spilled = runner.run("kosovo_2021", runs=RUNS, days=DAYS)  # Arrow IPC spill, encoded when saved
    assert streamed.model.spilled and spilled.model.spilled
    assert streamed.model.store.path.suffix == ".parquet" and spilled.model.store.path.suffix == ".arrow"
    for name, result in (("streamed", streamed), ("spilled", spilled)):
        result.save(tmp_path / name, data="parquet")
        result.save(tmp_path / f"{name}-csv", data="csv")  # CSV read back from either spill
    a, b = _digests(tmp_path / "streamed"), _digests(tmp_path / "spilled")
    assert "trajectories.parquet" in a and len(a) >= 7
    assert a == b
    assert _digests(tmp_path / "streamed-csv") == _digests(tmp_path / "spilled-csv")
    pd.testing.assert_frame_equal(streamed.trajectories, spilled.trajectories, check_exact=True)
    sizes = [len(c) for c in streamed.trajectory_chunks()]
    assert sizes == [500 * DAYS, 500 * DAYS, 100 * DAYS]  # RUNS_PER_CHUNK runs at a time, as before
    # control: another seed streams another file
    other = runner.run("kosovo_2021", runs=RUNS, days=DAYS, seed=99, spill_format="parquet")
    other.save(tmp_path / "other", data="parquet")
    assert _digests(tmp_path / "other")["trajectories.parquet"] != a["trajectories.parquet"]
    for result in (streamed, spilled, other):
        result.close()


def test_a_streamed_table_matches_the_one_kept_in_memory(tmp_path, small_spill):
    streamed = runner.run("kosovo_2021", runs=RUNS, days=DAYS, spill_format="parquet")
    streamed.save(tmp_path / "streamed", data="parquet")
    streamed.close()
    executors.SPILL_WORK = runner.SPILL_WORK = 10**9  # (monkeypatch restores them)
    kept = runner.run("kosovo_2021", runs=RUNS, days=DAYS)
    assert not kept.model.spilled
    kept.save(tmp_path / "kept", data="parquet")
    a, b = _digests(tmp_path / "streamed"), _digests(tmp_path / "kept")
    for table in ("trajectories.parquet", "events.parquet", "outcomes.csv", "manifest.json"):
        assert a[table] == b[table], table


def test_sim_run_streams_the_parquet_table_and_writes_what_the_api_writes(tmp_path, cli, small_spill):
    args = ["run", "kosovo_2021", "--runs", str(RUNS), "--days", str(DAYS), "--format-data", "parquet"]
    code, _, err = cli(*args, "--out", str(tmp_path / "cli"))
    assert code == 0, err
    api = runner.run("kosovo_2021", runs=RUNS, days=DAYS)
    api.save(tmp_path / "api", data="parquet")
    api.close()
    a, b = _digests(tmp_path / "cli"), _digests(tmp_path / "api")
    assert a.keys() == b.keys()
    for name in a.keys() - {"manifest.json"}:  # the manifest records the command line
        assert a[name] == b[name], name


def test_the_spill_format_is_checked():
    with pytest.raises(UserError, match="expected arrow or parquet"):
        runner.run("kosovo_2021", runs=2, days=3, spill_format="feather")


def test_a_row_group_that_fails_in_the_background_stops_the_run_and_leaves_no_spill(monkeypatch, small_spill):
    made = []

    class FullDisk:
        """The real writer, except that the second row group finds the disk full."""

        def __init__(self, path, schema):
            self.inner = real(path, schema)
            self.path, self.calls = Path(path), 0
            made.append(self)

        def write_table(self, table):
            self.calls += 1
            if self.calls == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.inner.write_table(table)

        def close(self):
            self.inner.close()

    real = tables.parquet_writer
    monkeypatch.setattr(tables, "parquet_writer", FullDisk)
    with pytest.raises(OSError, match="No space left"):
        runner.run("kosovo_2021", runs=RUNS, days=DAYS, spill_format="parquet")
    (writer,) = made
    assert writer.calls == 2  # control: the failure came from the background writer's second row group
    assert not writer.path.parent.exists()  # the spill went with the error


def _quantiles(result, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """The dyads' bands and peaks over the first `runs` runs, from the trajectory table."""
    table = result.trajectories
    names = [f"tension_{d}" for d in result.dyad_names()]
    dyads = table[names].to_numpy().reshape(len(result.runs), result.days, len(names))[:runs]
    dyads = dyads.astype(np.float32)
    return np.quantile(dyads, executors.BAND_QUANTILES, axis=0), dyads.max(axis=(0, 1))


@pytest.mark.parametrize("spilled", [True, False])
def test_the_dyads_bands_are_made_as_the_runs_come_in(monkeypatch, small_spill, spilled):
    monkeypatch.setattr(executors, "PLOT_RUNS", 600)  # more than a block of runs: two blocks make them
    if not spilled:
        monkeypatch.setattr(executors, "SPILL_WORK", 10**9)
        monkeypatch.setattr(runner, "SPILL_WORK", 10**9)
    result = runner.run("kosovo_2021", runs=RUNS, days=DAYS, events="none")
    model = result.model
    assert model.spilled is spilled
    assert model._plot == []  # no copy of the runs' dyads is left once their bands are made
    shown = 600 if spilled else RUNS
    assert model.plot_runs == shown
    bands, peaks = _quantiles(result, shown)
    np.testing.assert_array_equal(model.dyad_bands, bands)
    np.testing.assert_array_equal(model.dyad_peak, peaks)
    other, _ = _quantiles(result, RUNS if spilled else 600)
    assert not np.array_equal(model.dyad_bands, other)  # control: which runs are counted shows
    result.close()


@pytest.mark.parametrize("scenario", ["kosovo_2021", "korea_2015"])
def test_the_fan_charts_quantiles_from_sorted_days_are_the_same_bits(scenario):
    """The fan chart's bands and median line come from each day's sorted tension (a third of the time):
    order statistics of the same values, so the same numbers as from the runs in their order."""
    result = runner.run(scenario, runs=1500, days=60, events="none")
    tension = result._tension
    assert not np.array_equal(tension, np.sort(tension, axis=0))  # control: the runs are not in order
    assert (tension == 0).any()  # ties too (korea's runs often sit at 0)
    expected = np.quantile(tension, executors.BAND_QUANTILES, axis=0)
    assert np.array_equal(result.tension_quantiles().view(np.int64), expected.view(np.int64))
    assert np.array_equal(result.tension_median().view(np.int64), np.median(tension, axis=0).view(np.int64))


def test_the_dyads_bands_from_sorted_runs_are_the_same_bits():
    rng = np.random.default_rng(5)
    dyads = np.round(rng.gamma(0.6, 20.0, size=(1000, 50, 6)), 1).astype(np.float32)  # ties, zeros
    expected = np.quantile(dyads, executors.BAND_QUANTILES, axis=0)
    assert np.array_equal(executors.band_quantiles(dyads).view(np.int32), expected.view(np.int32))
