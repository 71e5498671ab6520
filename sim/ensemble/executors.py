"""Running an ensemble: in this process, across local worker processes, or on a Dask cluster.

The replicates are split into blocks, each worth a second or more of work, so
scheduling overhead stays negligible. Because every random draw is a function
of (seed, replicate, day, purpose, slot), a replicate's numbers do not depend
on which block, process or machine ran it, and the merged result is identical
whichever way the blocks were executed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from sim.ensemble.tables import RUNS_PER_CHUNK, Layout, TrajectoryStore
from sim.model.model import CrisisModel
from sim.model.rng import Purpose, uniforms
from sim.model.spec import Spec, compile_spec
from sim.scenario.schema import Scenario

# Replicate-days a block should hold: about a second of single-core work.
BLOCK_WORK = 250_000
SPILL_WORK = 500_000  # replicate-days above which trajectories are spilled to disk
PLOT_RUNS = 1000  # runs the dyad figure uses when the trajectories are spilled
EVENT_SAMPLE = 100  # runs whose event log `events="sample"` keeps (a seeded choice)


def keep_events(mode: str, replicates: np.ndarray, seed: int) -> np.ndarray:
    """Which replicates keep their event log: all, none, or a seeded sample of about 100 runs."""
    match mode:
        case "all":
            return np.ones(len(replicates), dtype=bool)
        case "none":
            return np.zeros(len(replicates), dtype=bool)
        case "sample":
            share = min(1.0, EVENT_SAMPLE / max(len(replicates), 1))
            return uniforms(seed, 0, Purpose.SAMPLE, replicates, 1)[:, 0] < share
        case _:
            raise ValueError(f"unknown events mode {mode!r}; expected all, sample or none")


@dataclass
class Block:
    """What one block of replicates produced."""

    replicates: np.ndarray
    tension: np.ndarray
    dyads: np.ndarray
    posture: np.ndarray
    settled: np.ndarray
    clashed: np.ndarray
    events: np.ndarray  # (E, 6), first column = row within the block


def run_block(
    scenario: Scenario,
    replicates: np.ndarray,
    days: int,
    seed: int,
    batch: Mapping[str, np.ndarray] | None,
    keep: np.ndarray,
    threads: int | None = None,
) -> Block:
    """Run one block of replicates to the end (a picklable unit of work for any executor)."""
    if threads:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    model = CrisisModel(scenario, replicates=replicates, days=days, seed=seed, batch=batch, keep_events=keep)
    model.run()
    block = block_of(model)
    # A Mesa model and its agents form reference cycles that only the cyclic
    # collector frees; let go of the big arrays now so memory stays flat.
    model.recorder = model.state = None
    return block


def block_of(model: CrisisModel) -> Block:
    """A finished model's record as a Block."""
    rec = model.recorder
    return Block(
        model.replicates,
        rec.tension,
        rec.dyads,
        rec.posture,
        rec.settled,
        model.state.clashed,
        rec.event_table(),
    )


class Ensemble:
    """A finished ensemble, assembled from blocks that arrive in replicate order.

    It keeps what the summary and the figures need for every run (global
    tension, settled days, clashes, the kept events) and hands the trajectory
    table to a TrajectoryStore, which spills it to Parquet when the ensemble is
    large. The dyad figure then uses the first PLOT_RUNS runs.
    """

    def __init__(self, scenario: Scenario, spec: Spec, replicates: np.ndarray, days: int, seed: int):
        self.crisis, self.spec, self.days, self.seed = scenario, spec, days, seed
        self.replicates = np.asarray(replicates, dtype=np.int64)
        r = len(self.replicates)
        self.spilled = r * days > SPILL_WORK
        self.layout = Layout(spec, scenario.start_date, days)
        self.store = TrajectoryStore(self.layout, spill=self.spilled)
        self.pairs = spec.pairs()
        self.tension = np.empty((r, days))
        self.settled = np.empty((r, days), dtype=bool)
        self.clashed = np.empty(r, dtype=bool)
        self._plot: list[tuple[np.ndarray, np.ndarray]] = []
        self._events: list[np.ndarray] = []
        self._filled = 0

    def add(self, block: Block) -> None:
        lo = self._filled
        n = len(block.replicates)
        self.tension[lo : lo + n] = block.tension
        self.settled[lo : lo + n] = block.settled
        self.clashed[lo : lo + n] = block.clashed
        room = PLOT_RUNS - lo if self.spilled else n
        if room > 0:  # single precision is ample for drawing bands
            self._plot.append(
                (block.dyads[:room].astype(np.float32), block.posture[:room].astype(np.float32))
            )
        table = block.events.copy()
        table[:, 0] += lo
        self._events.append(table)
        self.store.add(block.replicates, block.tension, block.dyads, block.posture)
        self._filled += n

    def finish(self) -> Ensemble:
        self.store.finish()
        n, p, a = self.days, len(self.pairs), self.spec.n
        self.plot_dyads = np.concatenate([d for d, _ in self._plot]) if self._plot else np.zeros((0, n, p))
        self.plot_posture = np.concatenate([q for _, q in self._plot]) if self._plot else np.zeros((0, n, a))
        self.events = np.concatenate(self._events) if self._events else np.zeros((0, 6), dtype=np.int32)
        self._plot, self._events = [], []
        return self


def split(replicates: np.ndarray, days: int, workers: int) -> list[np.ndarray]:
    """Blocks of whole RUNS_PER_CHUNK runs, about BLOCK_WORK replicate-days each, one per worker at least.

    In this process (one worker) a block is one chunk of runs, so memory stays flat.
    """
    if workers <= 1:
        per_block = RUNS_PER_CHUNK
    else:
        per_block = max(1, math.ceil(BLOCK_WORK / max(days, 1)))
        per_block = min(per_block, math.ceil(len(replicates) / workers))
        if per_block > RUNS_PER_CHUNK:
            per_block = math.ceil(per_block / RUNS_PER_CHUNK) * RUNS_PER_CHUNK
    return [replicates[lo : lo + per_block] for lo in range(0, len(replicates), per_block)]


def _batch_slice(batch: Mapping[str, np.ndarray] | None, positions: slice) -> dict | None:
    return {k: np.asarray(v)[positions] for k, v in batch.items()} if batch else None


def run_distributed(
    scenario: Scenario,
    replicates: np.ndarray,
    days: int,
    seed: int,
    *,
    batch: Mapping[str, np.ndarray] | None,
    keep: np.ndarray,
    workers: int = 1,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> Ensemble:
    """Run blocks of replicates in this process, on local processes (`workers`) or a Dask `client`."""
    blocks_idx = split(replicates, days, workers if client is None else _cluster_size(client))
    jobs, start = [], 0
    for block in blocks_idx:
        part = slice(start, start + len(block))
        jobs.append((scenario, block, days, seed, _batch_slice(batch, part), keep[part]))
        start += len(block)
    ensemble = Ensemble(scenario, compile_spec(scenario), replicates, days, seed)
    if client is not None:
        futures = [client.submit(run_block, *job, 1, pure=False) for job in jobs]
        for k, future in enumerate(futures):
            ensemble.add(future.result())
            if progress:
                progress(k + 1, len(futures))
    elif workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(run_block, *job, threads) for job in jobs]
            for k, future in enumerate(futures):
                ensemble.add(future.result())
                if progress:
                    progress(k + 1, len(futures))
    else:
        for k, job in enumerate(jobs):
            ensemble.add(run_block(*job))
            if progress:
                progress(k + 1, len(jobs))
    return ensemble.finish()


def _cluster_size(client: Any) -> int:
    try:
        return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    except Exception:
        return 1


def connect(scheduler: str, workers: int | None = None):
    """A Dask client: `local` starts a LocalCluster on this machine, anything else is an address."""
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        return Client(cluster)
    return Client(scheduler)


def run_reference(scenario: Scenario, replicates: np.ndarray, keep: np.ndarray | None = None):
    """Run replicates one after another, the way a Mesa user writes a batch loop."""
    from sim.model.reference import ReferenceModel

    replicates = np.asarray(replicates, dtype=np.int64)
    ensemble = Ensemble(scenario, compile_spec(scenario), replicates, scenario.days, scenario.seed)
    for r, replicate in enumerate(replicates):
        model = ReferenceModel(scenario, replicate=int(replicate))
        while model.running:
            model.step()
        kept = keep is None or keep[r]
        events = np.array([(0, *e) for e in model.events] if kept else [], dtype=np.int32).reshape(-1, 6)
        ensemble.add(
            Block(
                replicates[r : r + 1],
                np.array([model.tension]),
                np.array([model.dyads]),
                np.array([model.posture]),
                np.array([model.settled]),
                np.array([model.world.clashed]),
                events,
            )
        )
    return ensemble.finish()
