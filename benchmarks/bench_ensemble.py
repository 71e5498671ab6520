"""How fast are ensembles? Prints seconds, runs per second, ratios and peak memory.

    python benchmarks/bench_ensemble.py           # the whole table (a few minutes)
    python benchmarks/bench_ensemble.py --quick   # smaller sizes, for a smoke test

First, from command to picture (issue "Fast from command to picture"): the
start-up of `sim list`, the first run's compile (an empty numba cache), the
in-process ensemble (`sim.run()`, which spills the trajectories as Arrow IPC)
and the end-to-end `sim run` of R x 180 days (imports, the same simulation
with the table streamed to Parquet, the figures drawn by its worker process,
the run folder, exit), each the best of three, with its peak memory and CPU
time (the command's with its figure worker's), and their ratios (also as
the median and range of PAIRS pairs run back to back, since a shared
machine's load swings each time by a tenth or more), and the
same `sim run` with its figures stubbed out (what start-up, tables and files
cost alone); then the table of configurations.

Each configuration runs in a fresh subprocess, so its peak memory (max RSS) is
its own; the engine is compiled and warmed up before the clock starts, and the
fastest of the repeats is reported (Mesa's benchmark conventions). It times
`sim.run()`: the simulation, plus spilling the trajectory table to disk where
the ensemble is large; writing the run folder is not timed here (see `sim run`
for end-to-end times).

Last, a floor that bounds the engine from below (`floor`): what every replicate must do every day
whatever happens in it (one draw per actor, the daily stocks updated, the recorded values written),
compiled the engine's way; and, for comparison, the model's array work in numpy as if every actor
weighed every option every day, which is not a bound (the engine weighs only the options of the
actors that move).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

DAYS = 180
SCENARIO = "kosovo_2021"
PAIRS = 5  # in-process and end-to-end runs measured back to back, for the ratio's spread
# `sim run` with the figures' drawing stubbed out (no worker, no matplotlib, empty files): what the rest
# of the command costs, so the end-to-end ratio can be split into the figures' part and everything else
WITHOUT_FIGURES = """
import contextlib, sys, types
from sim.plots import worker
worker.figure_worker = contextlib.contextmanager(lambda formats: (yield None))
stub = types.ModuleType("sim.plots.render")
stub.render = lambda kind, plot, formats: {f: b"" for f in formats}
sys.modules["sim.plots.render"] = stub
from sim.__main__ import entry
entry(sys.argv[1:])
"""


def measure(config: dict) -> dict:
    """Run one configuration in this process; called in a child process."""
    from sim import run
    from sim.runner import prepare

    sc = prepare(SCENARIO, days=DAYS)
    run(sc, runs=2)  # warm-up: load the compiled kernel
    kind, runs, repeats = config["kind"], config["runs"], config.get("repeats", 1)
    client = None
    if kind == "dask":
        from sim.ensemble.executors import connect

        start = time.perf_counter()
        client = connect("local", 2)
        run(sc, runs=2, client=client)  # warm the workers
        config["startup"] = time.perf_counter() - start
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, cpu = time.perf_counter(), os.times()
        match kind:
            case "fast":
                run(sc, runs=runs, events=config.get("events", "all"))
            case "reference":
                run(sc, runs=runs, engine="reference")
            case "workers":
                run(sc, runs=runs, workers=2)
            case "dask":
                run(sc, runs=runs, client=client)
        best = min(best, time.perf_counter() - start)
        now = os.times()
        best_cpu = min(best_cpu, now.user - cpu.user + now.system - cpu.system)
    if client is not None:
        client.close()
        client.cluster.close()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {**config, "seconds": best, "cpu": best_cpu, "peak_mb": own, "children_peak_mb": children}


def timed(command: list[str], env: dict | None = None, cpu: bool = False) -> tuple[float, ...]:
    """Wall seconds and peak memory (MB, the child's own) of one command in a fresh process.

    With `cpu`, also its CPU seconds (user + system, every thread, and every child process it waited
    for, such as `sim run`'s figure worker): on a machine shared with other work, the wall time of a
    command swings with their load; its CPU time much less. The peak memory is the largest single
    process's (the command's; its figure worker holds far less).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    if cpu:
        return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024


def command_to_picture(runs: int) -> None:
    import statistics
    import tempfile

    sim = [sys.executable, "-m", "sim"]
    listing = statistics.median(timed([*sim, "list"])[0] for _ in range(5))
    print(f"{'sim list (median of 5 fresh processes)':<58}{listing:>8.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        cold = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, "cache")}
        run2 = [*sim, "run", SCENARIO, "--runs", "2", "--days", "3", "--events", "none"]
        compile_s, _ = timed([*run2, "--out", os.path.join(tmp, "cold")], cold)
        warm_s, _ = timed([*run2, "--out", os.path.join(tmp, "warm")], cold)
        print(f"{'first run after install (empty numba cache), 2 x 3 days':<58}{compile_s:>8.2f} s")
        print(f"{'  the same run with the cache filled':<58}{warm_s:>8.2f} s")
        # each the best of 3 (time) and the largest peak memory of the 3 runs
        engine = child({"kind": "fast", "runs": runs, "events": "none", "repeats": 3})
        print(
            f"{f'in-process sim.run(), {runs:,} x {DAYS} days, no event log':<58}"
            f"{engine['seconds']:>8.2f} s{engine['peak_mb']:>8,.0f} MB{engine['cpu']:>8.2f} s CPU"
        )
        big = [*sim, "run", SCENARIO, "--runs", str(runs), "--days", str(DAYS), "--events", "none"]
        trials = [timed([*big, "--out", os.path.join(tmp, f"big{k}")], cpu=True) for k in range(3)]
        e2e, e2e_cpu = min(t[0] for t in trials), min(t[2] for t in trials)
        e2e_mb = max(t[1] for t in trials)
        print(
            f"{'sim run end to end, the same ensemble':<58}{e2e:>8.2f} s{e2e_mb:>8,.0f} MB"
            f"{e2e_cpu:>8.2f} s CPU"
        )
        print(
            f"  end to end / in-process: {e2e / engine['seconds']:.2f}x time "
            f"({e2e_cpu / engine['cpu']:.2f}x CPU), {e2e_mb / engine['peak_mb']:.2f}x peak memory"
        )
        # the two best times above come minutes apart; on a shared machine each swings by a tenth or
        # more with the load of the moment, so the ratio is also taken in pairs run back to back
        ratios = []
        for k in range(PAIRS):
            alone = child({"kind": "fast", "runs": runs, "events": "none"})["seconds"]
            ratios.append(timed([*big, "--out", os.path.join(tmp, f"pair{k}")])[0] / alone)
        print(
            f"  the same ratio in {PAIRS} pairs run back to back: median {statistics.median(ratios):.2f}x "
            f"(from {min(ratios):.2f}x to {max(ratios):.2f}x)"
        )
        bare = [sys.executable, "-c", WITHOUT_FIGURES, *big[3:]]
        plain = min(timed([*bare, "--out", os.path.join(tmp, f"bare{k}")], cpu=True)[0] for k in range(3))
        print(
            f"{'  the same with the figures not drawn (a stub)':<58}{plain:>8.2f} s"
            f"   ({plain / engine['seconds']:.2f}x in-process: start-up, tables and files alone)\n"
        )


def child(config: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(config)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def numpy_work(r: int) -> float:
    """Seconds numpy alone needs for the model's array work as if every actor weighed every option
    every day: per day, the utility of every option as a product of an (R, options, terms) array with
    the term weights, the logit weights (exp), their cumulative sum and one draw per actor. Not a
    bound: the engine weighs only the options of the actors that move, and takes less than this.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    options, terms, actors = 105, 8, 7  # about the model's 104 options, 7 actors x 15
    features = rng.random((r, options, terms))
    weights = rng.random(terms)
    u = rng.random((r, actors, 1))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _day in range(DAYS):
            utility = features @ weights
            p = np.exp(utility - utility.max(axis=1, keepdims=True))
            cum = np.cumsum(p.reshape(r, actors, -1), axis=2)
            (cum < u * cum[:, :, -1:]).sum(axis=2)
        best = min(best, time.perf_counter() - start)
    return best


BLOCK = 500  # replicates per block, as the engine's tables are cut
# the stocks every replicate updates every day (docs/model.md 7.3: each decays; reference points adapt)
DAILY_STOCKS = (
    "tension",
    "grievance",
    "hostility",
    "commitment",
    "backing",
    "mediation",
    "costs",
    "ladder",
    "attention",
    "reference",
)


def floor(r: int) -> tuple[float, int, int, int]:
    """A lower bound on the engine's time for R replicates x 180 days, and what it counts.

    What the model's specification (docs/model.md 7.2-7.3) makes every replicate do every day,
    whatever happens in it: one draw per actor (the move count; the engine skips it only for an actor
    whose day is scripted or taken by carrying out a deal, 2 of 1,260 actor-days in 2021's 180),
    every stock that changes daily updated once (DAILY_STOCKS: each is read and written), and the
    day's recorded values written (global tension, each dyad's, each actor's posture). Compiled with
    numba and the engine's own draw, its replicates spread over the same threads, in blocks of BLOCK
    with one output buffer reused, as the engine streams its tables. Utilities, logits, events and
    bargaining all come on top of it.
    """
    import numpy as np
    from numba import njit, prange

    from sim.model.rng import uniform
    from sim.model.spec import compile_spec
    from sim.model.state import State
    from sim.runner import prepare

    spec = compile_spec(prepare(SCENARIO, days=DAYS))
    one = State.initial(spec, 1)
    stocks = sum(getattr(one, name).size for name in DAILY_STOCKS)
    n = spec.n
    recorded = 1 + n * (n - 1) // 2 + n
    assert recorded <= stocks  # each recorded value is read from a stock

    @njit(parallel=True)
    def days(state, out, keys, actors):
        for q in prange(state.shape[0]):
            for d in range(keys.shape[0]):
                news = 0.0
                for a in range(actors):
                    news += uniform(keys[d], np.uint64(q * actors + a))
                for k in range(state.shape[1]):
                    state[q, k] = 0.9 * state[q, k] + 1e-9 * news
                for k in range(out.shape[2]):
                    out[q, d, k] = state[q, k]

    keys = np.arange(1, DAYS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    block = min(r, BLOCK)
    out = np.empty((block, DAYS, recorded))
    days(np.zeros((block, stocks)), out, keys, n)  # compile and warm up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for lo in range(0, r, block):
            size = min(block, r - lo)
            days(np.zeros((size, stocks)), out[:size], keys, n)
        best = min(best, time.perf_counter() - start)
    return best, n, stocks, recorded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke test")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return
    import mesa
    import numba
    import numpy as np

    sizes = (1, 100, 1000) if args.quick else (1, 100, 1000, 10_000)
    big = sizes[-1]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads), "
        f"mesa {mesa.__version__}"
    )
    print(
        f"scenario {SCENARIO}, {DAYS} days per run; simulation only, best of repeats, "
        "each configuration in its own process\n"
    )
    command_to_picture(big)
    print(f"{'configuration':<44}{'seconds':>10}{'runs/s':>12}{'peak MB':>10}")
    fast = {}
    for r in sizes:
        res = child({"kind": "fast", "runs": r, "repeats": 3 if r < 10_000 else 2})
        fast[r] = res
        print(
            f"{f'fast engine, R = {r:,}, one process':<44}{res['seconds']:>10.3f}"
            f"{r / res['seconds']:>12,.0f}{res['peak_mb']:>10,.0f}"
        )
    res = child({"kind": "fast", "runs": big, "events": "none"})
    print(
        f"{f'fast engine, R = {big:,}, --events none':<44}{res['seconds']:>10.3f}"
        f"{big / res['seconds']:>12,.0f}{res['peak_mb']:>10,.0f}"
    )
    n_ref = 20 if args.quick else 100
    ref = child({"kind": "reference", "runs": n_ref})
    per_run = ref["seconds"] / n_ref
    print(
        f"{f'reference, {n_ref} runs one after another':<44}{ref['seconds']:>10.3f}"
        f"{n_ref / ref['seconds']:>12,.1f}{ref['peak_mb']:>10,.0f}"
    )
    print(f"{f'  reference scaled to R = {big:,}':<44}{per_run * big:>10.1f}")
    ratio = per_run / (fast[big]["seconds"] / big)
    print(f"  fast engine per run is {ratio:,.0f}x faster than the reference\n")
    workers = child({"kind": "workers", "runs": big})
    peak = workers["peak_mb"] + workers["children_peak_mb"]
    print(
        f"{f'--workers 2, R = {big:,}':<44}{workers['seconds']:>10.3f}"
        f"{big / workers['seconds']:>12,.0f}{peak:>10,.0f}"
    )
    print(f"  one process / two workers: {fast[big]['seconds'] / workers['seconds']:.2f}x")
    dask = child({"kind": "dask", "runs": big})
    print(
        f"{f'Dask LocalCluster (2 workers), R = {big:,}':<44}{dask['seconds']:>10.3f}"
        f"{big / dask['seconds']:>12,.0f}{dask['peak_mb']:>10,.0f}"
    )
    print(
        f"  one process / LocalCluster: {fast[big]['seconds'] / dask['seconds']:.2f}x "
        f"(cluster start-up, not timed above: {dask['startup']:.1f} s; worker memory not included)\n"
    )
    f, n, stocks, recorded = floor(big)
    print(
        f"floor for R = {big:,} x {DAYS} days (compiled; per replicate-day {n} draws, {stocks} stock values "
        f"updated, {recorded} values recorded): {f:.3f} s"
    )
    print(f"  the fast engine takes {fast[big]['seconds'] / f:.1f}x that floor")
    w = numpy_work(big)
    print(f"numpy, every option of every actor every day (not a bound): {w:.3f} s")
    print(f"  the fast engine takes {fast[big]['seconds'] / w:.1f}x that")


if __name__ == "__main__":
    main()
