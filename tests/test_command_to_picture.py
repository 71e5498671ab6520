"""From command to picture (issue 12): `sim run` does less besides the engine, and writes the same bytes.

No durations here (the figures are in benchmarks/bench_ensemble.py): the tests
check what makes the end-to-end run slow or large is gone, and that every file
of a run folder is byte for byte what the slower path writes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scipy import stats

from sim.results.outcomes import wilson

from .conftest import REPO

# `python -c REPORT ARGS` is `sim ARGS`; at exit it prints whether scipy.stats was loaded and how many
# objects the collector had frozen, as the interpreter is about to tear the modules down
REPORT = """
import atexit, gc, sys

def report():
    print("scipy.stats", "scipy.stats" in sys.modules, "frozen", gc.get_freeze_count() > 0)

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


def test_a_run_neither_imports_scipy_stats_nor_sweeps_memory_at_exit(tmp_path):
    proc = _sim(["run", "kosovo_2021", "--runs", "3", "--days", "5", "--out", "r"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "tension.png").exists()
    lines = proc.stdout.splitlines()
    assert lines[0] == "before 0"  # control: nothing was frozen before the command ran
    assert lines[-1] == "scipy.stats False frozen True"


def test_control_a_command_that_needs_scipy_stats_loads_it(tmp_path):
    """The same report around `sim compare` (bootstrap intervals) sees scipy.stats: the check can fail."""
    args = ["compare", "kosovo_2021", "kosovo_2021", "--runs", "3", "--days", "5", "--out", "c"]
    proc = _sim(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "scipy.stats True frozen True"
