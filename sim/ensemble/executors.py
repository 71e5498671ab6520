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
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from sim.ensemble.tables import RUNS_PER_CHUNK, Layout, TrajectoryStore
from sim.errors import UserError, check_interrupted, report_stage
from sim.model import scripted
from sim.model.cpus import cpu_count
from sim.model.engine_cache import note_if_compiling
from sim.model.lockstep import Lockstep
from sim.model.rng import Purpose, uniforms
from sim.model.spec import Spec, compile_spec
from sim.scenario.schema import Scenario

# Replicate-days a block should hold: about a second of single-core work.
BLOCK_WORK = 250_000
SPILL_WORK = 500_000  # replicate-days above which trajectories are spilled to disk
PLOT_RUNS = 1000  # runs the dyad figure uses when the trajectories are spilled
BAND_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # the fan charts' bands: 90% and 50% of runs, the median
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
    # runs in which each scenario event (a scripted move) did not happen, by reason (scripted.REASONS)
    scripted_missed: np.ndarray | None = None


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
    model = Lockstep(scenario, replicates=replicates, days=days, seed=seed, batch=batch, keep_events=keep)
    model.run()
    block = block_of(model)
    # let go of the big arrays now (a model in a reference cycle would hold them until the cyclic
    # collector ran), so memory stays flat
    model.recorder = model.state = None
    return block


def block_of(model: Lockstep) -> Block:
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
        rec.scripted_missed,
    )


class Ensemble:
    """A finished ensemble, assembled from blocks that arrive in replicate order.

    It keeps what the summary and the figures need for every run (global
    tension, settled days, clashes, the kept events) and hands the trajectory
    table to a TrajectoryStore, which spills it to disk when the ensemble is
    large. Of the dyads it keeps only what their figure draws, the daily
    quantile bands (BAND_QUANTILES) and each dyad's peak: over the first
    PLOT_RUNS runs of a spilled ensemble, made as soon as those runs are in
    (not a copy of every run's dyads held to the end), or over every run, a
    dyad at a time, from the table kept in memory.
    """

    def __init__(
        self,
        scenario: Scenario,
        spec: Spec,
        replicates: np.ndarray,
        days: int,
        seed: int,
        spill_format: str = "arrow",
        bands_ready: Callable[[Ensemble], None] | None = None,
    ):
        self.crisis, self.spec, self.days, self.seed = scenario, spec, days, seed
        self.bands_ready = bands_ready  # called once the dyads' bands are made (sim run draws them then)
        self.replicates = np.asarray(replicates, dtype=np.int64)
        r = len(self.replicates)
        self.spilled = r * days > SPILL_WORK
        self.layout = Layout(spec, scenario.start_date, days)
        self.store = TrajectoryStore(self.layout, spill=self.spilled, spill_format=spill_format)
        self.pairs = spec.pairs()
        self.tension = np.empty((r, days))
        self.settled = np.empty((r, days), dtype=bool)
        self.clashed = np.empty(r, dtype=bool)
        self._plot: list[np.ndarray] = []  # a spilled ensemble's first runs' dyads until their bands are in
        self.plot_runs = min(r, PLOT_RUNS) if self.spilled else r  # the runs the dyad figure shows
        self.dyad_bands: np.ndarray | None = None  # (quantiles, days, pairs) of single-precision dyads
        self.dyad_peak: np.ndarray | None = None  # (pairs,) the highest tension of each dyad in those runs
        self._events: list[np.ndarray] = []
        self._filled = 0
        # runs in which each scenario event (a scripted move) did not happen, by reason
        self.scripted_missed = np.zeros((len(scenario.events), len(scripted.REASONS)), dtype=np.int64)

    def add(self, block: Block) -> None:
        check_interrupted()  # a checkpoint per block: a signal whose exception got lost stops here
        lo = self._filled
        n = len(block.replicates)
        self.tension[lo : lo + n] = block.tension
        self.settled[lo : lo + n] = block.settled
        self.clashed[lo : lo + n] = block.clashed
        room = self.plot_runs - lo if self.spilled else 0
        if room > 0:  # single precision is ample for drawing bands
            self._plot.append(block.dyads[:room].astype(np.float32))
            if lo + n >= self.plot_runs:  # the figure's runs are all in: their bands, and the copy goes
                self._bands(np.concatenate(self._plot) if len(self._plot) > 1 else self._plot[0])
                self._plot = []
        if block.scripted_missed is not None:
            self.scripted_missed += block.scripted_missed
        table = block.events.copy()
        table[:, 0] += lo
        self._events.append(table)
        self.store.add(block.replicates, block.tension, block.dyads, block.posture)
        self._filled += n

    def _bands(self, dyads: np.ndarray) -> None:
        """Bands and peaks of (runs, days, pairs) single-precision dyads."""
        self._banded(band_quantiles(dyads), dyads.max(axis=(0, 1)))

    def _banded(self, bands: np.ndarray, peaks: np.ndarray) -> None:
        self.dyad_bands, self.dyad_peak = bands, peaks
        if self.bands_ready is not None:
            self.bands_ready(self)

    def finish(self) -> Ensemble:
        self.store.finish()
        if self.dyad_bands is None and self._filled:  # kept in memory: every run, one dyad at a time
            bands, peaks = [], []
            for k in range(len(self.pairs)):
                series = self.store.dyad(k).astype(np.float32)  # as in a spilled ensemble's bands
                bands.append(band_quantiles(series))
                peaks.append(series.max())
            self._banded(np.stack(bands, axis=2), np.array(peaks))
        self.events = np.concatenate(self._events) if self._events else np.zeros((0, 6), dtype=np.int32)
        self._plot, self._events = [], []
        return self


def band_quantiles(runs: np.ndarray) -> np.ndarray:
    """The BAND_QUANTILES across runs (axis 0), from the values sorted along it: the same order
    statistics as from the runs in their order, in a third of the time (numpy's selection is
    quick on sorted data). The sorted copy is this function's own, so the selection may work in it."""
    return np.quantile(np.sort(runs, axis=0), BAND_QUANTILES, axis=0, overwrite_input=True)


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
    spill_format: str = "arrow",
    bands_ready: Callable[[Ensemble], None] | None = None,
) -> Ensemble:
    """Run blocks of replicates in this process, on local processes (`workers`) or a Dask `client`.

    `spill_format`: a large ensemble's trajectories go to disk as the blocks arrive, as Arrow IPC or
    as the Parquet file the run folder will hold (see TrajectoryStore). `bands_ready`: see Ensemble.
    """
    if client is None:
        workers = usable_workers(workers, len(replicates), days)
    blocks_idx = split(replicates, days, workers if client is None else _cluster_size(client))
    jobs, start = [], 0
    for block in blocks_idx:
        part = slice(start, start + len(block))
        jobs.append((scenario, block, days, seed, _batch_slice(batch, part), keep[part]))
        start += len(block)
    ensemble = Ensemble(scenario, compile_spec(scenario), replicates, days, seed, spill_format, bands_ready)
    try:
        if client is not None:
            futures = [client.submit(run_block, *job, 1, pure=False) for job in jobs]
            try:
                for k, future in enumerate(futures):
                    ensemble.add(future.result())
                    if progress:
                        progress(k + 1, len(futures))
            except BaseException:
                client.cancel(futures)
                raise
        elif workers > 1:
            threads = max(1, cpu_count() // workers)
            note_if_compiling()  # the workers compile the kernel if it is not cached; they say nothing
            with worker_pool(workers) as pool:
                futures = [pool.submit(run_block, *job, threads) for job in jobs]
                report_stage("workers")  # the worker processes are starting
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
    except BaseException:  # an error or a signal: the spilled table goes too
        ensemble.store.close()
        raise


# What an ensemble costs, measured with `/usr/bin/time -v sim run` on the project's 2-core machine
# (10,000 and 100,000 runs of 180 days): a fixed part, plus bytes per replicate-day.
BASE_MEMORY = 550 * 2**20  # Python, numpy, numba, pyarrow, matplotlib loaded; one block; the figures
WORKER_MEMORY = 400 * 2**20  # each extra worker process
KEPT_BYTES = 17  # per replicate-day for every run: tension, settled days, the fan chart's quantiles
EVENT_BYTES = 48  # per replicate-day of a kept event log (about 1.5 events a day)
RATE = 500_000  # replicate-days a second on a quiet 2-core machine


@dataclass(frozen=True)
class Estimate:
    """Rough peak memory, temporary disk (the spill) and time of an ensemble."""

    memory: int
    spill: int
    seconds: float


def estimate(actors: int, runs: int, days: int, events: str = "all", workers: int = 1) -> Estimate:
    """What `runs` replicates of `days` days of an `actors`-actor scenario will roughly need."""
    work = runs * days
    columns = 1 + actors * (actors - 1) // 2 + actors  # global tension, each dyad, each posture
    kept = work * (KEPT_BYTES + (EVENT_BYTES if events == "all" else 0))
    if events == "sample":
        kept += min(runs, EVENT_SAMPLE) * days * EVENT_BYTES
    spilled = work > SPILL_WORK
    in_memory = 0 if spilled else work * columns * 8 * 2  # the arrays and one chunk's table
    spill = work * (30 + 8 * columns) if spilled else 0  # run, day, date and the float columns
    memory = BASE_MEMORY + (workers - 1) * WORKER_MEMORY + kept + in_memory
    return Estimate(memory=memory, spill=spill, seconds=work / RATE)


def available_memory() -> int | None:
    """Bytes this process could still use: MemAvailable, or less under a cgroup limit."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit.isdigit():
            found.append(int(limit))
    except OSError:
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 86400:,.0f} days"


def check_size(actors: int, runs: int, days: int, events: str = "all", workers: int = 1) -> Estimate:
    """Refuse, before anything is allocated, an ensemble this machine cannot hold in memory or spill."""
    import tempfile

    need = estimate(actors, runs, days, events, workers)
    memory = available_memory()
    what = f"{runs:,} runs of {days:,} days"
    hint = "use fewer runs or fewer days" + (
        f", or --events none (it saves about {_size(runs * days * EVENT_BYTES)})" if events == "all" else ""
    )
    if memory is not None and need.memory > memory:
        raise UserError(
            f"{what} need about {_size(need.memory)} of memory and about {_duration(need.seconds)} "
            f"(at {RATE:,} replicate-days a second); this machine has {_size(memory)} available; {hint}",
            field="--runs",
        )
    if need.spill:
        folder = tempfile.gettempdir()
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = None
        if free is not None and need.spill > free:
            raise UserError(
                f"{what} spill about {_size(need.spill)} of trajectories to {folder} while they run, "
                f"which has {_size(free)} free; use fewer runs or fewer days, or point TMPDIR at a "
                "larger disk",
                field="--runs",
            )
    return need


def usable_workers(requested: int, runs: int, days: int) -> int:
    """Worker processes worth starting: no more than the CPUs, nor than the blocks of runs to share."""
    workers = max(1, min(int(requested), cpu_count()))
    if workers > 1:
        workers = min(workers, len(split(np.arange(runs), days, workers)))
    return workers


@contextmanager
def sigint_held() -> Iterator[None]:
    """Processes started inside the block never see Ctrl-C; a Ctrl-C meanwhile is handled after it.

    A terminal's Ctrl-C goes to every process in the foreground group, so
    workers would each print a KeyboardInterrupt traceback. A blocked signal
    stays blocked across fork and exec, so workers started here never receive
    it; the parent handles it once the block ends, and stops them.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    # Started on first use by multiprocessing, the tracker *unblocks* SIGINT in the thread that
    # starts it (the Dask event loop's, for one), undoing the block below: start it now.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Pool(ProcessPoolExecutor):
    """Spawned worker processes that ignore Ctrl-C and are stopped at once when the parent is interrupted."""

    def submit(self, fn, /, *args, **kwargs):
        with sigint_held():  # workers are started by submit()
            return super().submit(fn, *args, **kwargs)

    def stop(self) -> None:
        """Cancel what has not started and end the workers now (SIGKILL: they hold no files).

        The manager thread then finds the pool broken and ends, so nothing waits
        at exit for blocks nobody will read.
        """
        processes = list((getattr(self, "_processes", None) or {}).values())  # shutdown() forgets them
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join()


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes; an error or a signal in the block stops them at once."""
    pool = _Pool(max_workers=workers, mp_context=get_context("spawn"))
    try:
        yield pool
    except BaseException:
        pool.stop()
        raise
    pool.shutdown(wait=True)


def _cluster_size(client: Any) -> int:
    try:
        return max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    except Exception:
        return 1


def connect(scheduler: str, workers: int | None = None, timeout: float | None = None):
    """A Dask client: `local` starts a LocalCluster on this machine, anything else is an address.

    Connecting to an address is bounded as a whole (TCP connect, handshake and
    registration) by `timeout` seconds, by default Dask's own connect timeout
    (`distributed.comm.timeouts.connect`): a server that accepts and never
    answers, or answers in another protocol, is an error, not a hang or an
    attempt to allocate exabytes. Raises ConnectionError or TimeoutError.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        import logging
        import tempfile

        import dask.config

        # the workers' scratch space is ours to delete; Dask's own warnings are not the user's business
        logging.getLogger("distributed").setLevel(logging.ERROR)
        scratch = tempfile.mkdtemp(prefix="sim-dask-")
        quiet = {"temporary-directory": scratch, "logging.distributed": "error"}
        env = {"DASK_LOGGING__DISTRIBUTED": "error"}  # read by the worker processes as they start
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with sigint_held(), dask.config.set(quiet):  # processes start from threads created now
                cluster = LocalCluster(
                    n_workers=max(1, min(workers or cpu_count(), cpu_count())),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    local_directory=scratch,
                )
                client = Client(cluster)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        client.sim_scratch = scratch
        return client
    seconds = timeout if timeout is not None else _connect_timeout()
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["client"] = Client(scheduler, timeout=seconds)
        except BaseException as exc:  # reported below, in the calling thread
            outcome["error"] = exc

    # a daemon thread: if the server never answers, nothing waits for it at exit
    thread = threading.Thread(target=attempt, name="sim-dask-connect", daemon=True)
    with sigint_held():  # the client's event-loop thread is created in there
        thread.start()
    thread.join(seconds + 2)
    if thread.is_alive():
        raise TimeoutError(f"no answer from {scheduler} within {seconds:g} s (is it a Dask scheduler?)")
    error = outcome.get("error")
    if isinstance(error, OSError | TimeoutError):
        raise error
    if error is not None:  # e.g. MemoryError or ValueError from reading another protocol's bytes as Dask's
        raise ConnectionError(
            f"{scheduler} did not answer as a Dask scheduler ({type(error).__name__})"
        ) from None
    return outcome["client"]


def disconnect(client: Any) -> None:
    """Close a client from `connect`; a LocalCluster it started goes too, quietly, with its scratch space."""
    if client is None:
        return
    import logging

    scratch = getattr(client, "sim_scratch", None)
    if scratch is None:
        client.close()
        return
    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)  # workers stopped mid-task complain
    try:
        client.close()
        client.cluster.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _connect_timeout() -> float:
    import dask.config
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="s"))


def run_reference(
    scenario: Scenario,
    replicates: np.ndarray,
    keep: np.ndarray | None = None,
    batch: Mapping[str, np.ndarray] | None = None,
):
    """Run replicates one after another, the way a Mesa user writes a batch loop.

    A replicate with its own parameter values (`batch`) runs the scenario with those values set.
    """
    from sim.model.reference import ReferenceModel
    from sim.scenario.loader import load_scenario

    replicates = np.asarray(replicates, dtype=np.int64)
    ensemble = Ensemble(scenario, compile_spec(scenario), replicates, scenario.days, scenario.seed)
    raw = scenario.model_dump(mode="json") if batch else None
    by_day = scripted.move_events_by_day(scenario.events)
    for r, replicate in enumerate(replicates):
        own = scenario
        if batch:
            own = load_scenario(raw, {path: float(values[r]) for path, values in batch.items()})
        model = ReferenceModel(own, replicate=int(replicate))
        missed = np.zeros_like(ensemble.scripted_missed)
        while model.running:
            _reference_day(model, missed, by_day)
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
                missed,
            )
        )
    return ensemble.finish()


def _reference_day(model: Any, missed: np.ndarray, by_day: dict[int, list[int]]) -> None:
    """Step a reference model one day, counting the scripted moves it skipped (as Lockstep does)."""
    day, rows = model.day, list(model.scripted.get(model.day, []))
    if not rows:
        model.step()
        return
    held = np.array(model.world.held, dtype=bool).reshape(1, model.spec.n, -1)
    target = np.array(model.world.target, dtype=np.int64).reshape(held.shape)
    before = len(model.events)
    model.step()
    spec = model.spec  # after the day's scripted parameter changes, as the day ran
    _, posts, conds, _ = spec.move_table()
    mask, anymask = scripted.posture_masks(held, spec.postures.contact)
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    reasons = np.stack([scripted.why_not(mask, anymask, target, posts, conds, row) for row in table], axis=1)
    todays = np.array([(0, *e) for e in model.events[before:]], dtype=np.int64).reshape(-1, 6)
    happened = scripted.made(todays, 1, table)
    scripted.tally(missed, by_day[day], happened, reasons)
