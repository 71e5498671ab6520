"""Start-up: commands that only read files import nothing heavy; a first run says it compiles the engine.

No durations here: what makes `sim list` slow is what it imports, so the tests
check which modules a fresh process has loaded when it exits (the wall times
are in benchmarks/bench_startup.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.model.engine_cache import NOTE

from .conftest import REPO

# the libraries that cost seconds to import; scenario files need only pydantic and yaml
HEAVY = {"numba", "mesa", "scipy", "pandas", "pyarrow", "dask", "distributed", "matplotlib", "solara"}
HEAVY |= {"pyabc", "SALib", "ema_workbench"}

# `python -c WRAPPER ARGS` is `sim ARGS`, and at exit writes the top-level modules it loaded to $MODULES_FILE
WRAPPER = """
import atexit, os, sys

def report():
    with open(os.environ["MODULES_FILE"], "w") as fh:
        fh.write("\\n".join(sorted({name.partition(".")[0] for name in sys.modules})))

atexit.register(report)
from sim.__main__ import entry

entry(sys.argv[1:])
"""


def _env(**extra: str) -> dict[str, str]:
    """This checkout first on the path, whatever is installed."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def loaded_by(args: list[str], tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `sim ARGS` in a fresh process; its result and the top-level modules it had loaded at exit."""
    modules = tmp_path / "modules.txt"
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *map(str, args)],
        cwd=tmp_path,
        env=_env(MODULES_FILE=str(modules), **env),
        capture_output=True,
        text=True,
        timeout=600,  # guards against a hang only
    )
    return proc, set(modules.read_text().split()) if modules.exists() else set()


READ_ONLY = [
    ["--help"],
    ["list"],
    ["validate", "kosovo_2021"],
    ["show", "kosovo_2021"],
    ["schema"],
    ["run", "--help"],
    ["dashboard", "--help"],
    ["calibrate", "--help"],
    ["discover", "--help"],
    ["compare-events", "--help"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_commands_that_read_files_import_nothing_heavy(args, tmp_path):
    proc, modules = loaded_by(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()  # it did its work
    assert "sim" in modules and "typer" in modules  # the report saw the command's imports
    assert modules & HEAVY == set()


def test_a_bad_scenario_is_refused_without_the_engine_too(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ndays: many\n")
    proc, modules = loaded_by(["validate", "bad.yaml"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("sim: error: ")
    assert modules & HEAVY == set()


SPILLED_RUN = ["--runs", "2800", "--days", "180", "--events", "none"]  # 504,000 run-days: spilled, Parquet


@pytest.mark.parametrize("size", [["--runs", "2", "--days", "3"], SPILLED_RUN], ids=["small", "spilled"])
def test_control_the_report_sees_the_engine_of_a_run_which_needs_no_mesa_nor_pandas(size, tmp_path):
    """The same wrapper around a command that simulates reports numba: the check above can fail.

    The run's engine is the lockstep kernel without its Mesa face: Mesa (with the scipy.spatial,
    networkx and asyncio it imports) is for the Python API, the dashboard and the reference. Its
    tables go to pyarrow without pandas, and the scenario's posterior is read without it.
    """
    proc, modules = loaded_by(["run", "kosovo_2021", *size, "--out", "r"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "outcomes.csv").exists() and (tmp_path / "r" / "posterior.csv").exists()
    table = "trajectories.parquet" if size == SPILLED_RUN else "trajectories.csv"
    assert (tmp_path / "r" / table).exists()
    assert {"numba", "pyarrow"} <= modules
    assert modules & {"mesa", "networkx", "dask", "distributed", "pandas"} == set()


def test_the_python_api_is_unchanged_and_loads_the_engine_on_use(tmp_path):
    code = (
        "import sys\n"
        "import sim\n"
        "from sim import Scenario, ScenarioError, UserError, bundled_scenarios, load_scenario\n"
        "assert isinstance(load_scenario('kosovo_2021'), Scenario)\n"
        "print('before', 'numba' in sys.modules)\n"
        "from sim import Result, run\n"
        "assert callable(run) and sim.run is run and isinstance(sim.__version__, str)\n"
        "print('after', 'numba' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["before", "False", "after", "True"]


def _first_run(tmp_path: Path, cache: Path, out: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", "run", "kosovo_2021", "--runs", "2", "--days", "3", "--out", out],
        cwd=tmp_path,
        env=_env(NUMBA_CACHE_DIR=str(cache)),
        capture_output=True,
        text=True,
        timeout=900,  # a cold compile on a busy machine; guards against a hang only
    )


def test_the_first_run_says_it_compiles_the_engine_and_a_warm_cache_stays_quiet(tmp_path):
    cache = tmp_path / "numba-cache"  # empty: numba must compile the kernel
    cold = _first_run(tmp_path, cache, "a")
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.splitlines() == [NOTE]  # one line, before the wait
    assert "compiling" in NOTE and "seconds" in NOTE
    assert any(cache.rglob("kernel.run_block-*.nbi"))  # control: this run filled this cache
    warm = _first_run(tmp_path, cache, "b")
    assert warm.returncode == 0, warm.stderr
    assert warm.stderr == ""
    assert (tmp_path / "a" / "outcomes.csv").read_bytes() == (tmp_path / "b" / "outcomes.csv").read_bytes()


def test_the_helpers_signatures_are_those_the_engines_compile_makes(tmp_path):
    """engine_signatures.txt lists what compiling the engine makes (a changed kernel must rewrite it:
    `python -m sim.model.precompile --write`); recorded in a fresh process with an empty cache."""
    from sim.model.precompile import SIGNATURES, signatures

    code = "from sim.model import precompile; print(precompile.record(), end='')"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    made = signatures(proc.stdout)
    assert any(name.endswith("kernel.situation") for name, _ in made)  # control: the record saw them
    assert made == signatures(SIGNATURES.read_text(encoding="utf-8")), (
        "the engine's compile makes other functions now: python -m sim.model.precompile --write"
    )


def test_the_helper_fills_the_cache_with_what_the_engine_calls_but_not_the_engine(tmp_path):
    from sim.model.precompile import signatures

    cache = tmp_path / "numba-cache"
    code = "from sim.model import precompile; print(precompile.compile_all(precompile.signatures()))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(NUMBA_CACHE_DIR=str(cache)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    # every signature compiled, those with a constant argument (numba's Literal[int](0)) too
    assert int(proc.stdout) == len(signatures()) > 30
    for name, _ in signatures():
        module, _, func = name.rpartition(".")
        assert any(cache.rglob(f"{module.rpartition('.')[2]}.{func}-*.nbi")), name
    assert not any(cache.rglob("kernel.run_block-*.nbi"))  # the engine itself is the command's to compile
