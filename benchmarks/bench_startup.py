"""Wall time of the read-only commands and of `import sim`, each in fresh processes (not a test).

python benchmarks/bench_startup.py [--repeats 5]

Each command runs as `python -m sim ...` (what the `sim` script runs) with this
checkout first on PYTHONPATH; the figure is the median of the repeats, after one
unmeasured warm-up run that fills the operating system's file cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c 'import sim'", ["-c", "import sim"]),
    ("python -c 'from sim import run'", ["-c", "from sim import run"]),  # the engine: for reference
    ("sim --help", ["-m", "sim", "--help"]),
    ("sim run --help", ["-m", "sim", "run", "--help"]),
    ("sim list", ["-m", "sim", "list"]),
    ("sim validate kosovo_2021", ["-m", "sim", "validate", "kosovo_2021"]),
    ("sim show kosovo_2021", ["-m", "sim", "show", "kosovo_2021"]),
    ("sim schema", ["-m", "sim", "schema"]),
]


def wall_time(args: list[str], env: dict[str, str]) -> float:
    """Seconds from starting a fresh interpreter to its exit; a failing command stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (median shown)")
    repeats = parser.parse_args().repeats
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'command':<32} {'median':>8} {'min':>8} {'max':>8}  (s, {repeats} fresh processes)")
    for label, args in COMMANDS:
        wall_time(args, env)  # warm-up: file cache, __pycache__
        times = [wall_time(args, env) for _ in range(repeats)]
        print(f"{label:<32} {statistics.median(times):8.3f} {min(times):8.3f} {max(times):8.3f}")


if __name__ == "__main__":
    main()
