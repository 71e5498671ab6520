"""Ensembles at scale: the same files however the runs are executed, Parquet = CSV, events modes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.ensemble.executors import SPILL_WORK

FILES = ("trajectories", "events", "outcomes.csv", "manifest.json")


def folder_bytes(path, data="csv") -> dict[str, bytes]:
    names = [f"{n}.{data}" if "." not in n else n for n in FILES]
    return {n: (path / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    run("kosovo_2021", runs=1200, days=40).save(out, data="csv")
    return out


def test_two_worker_processes_write_byte_identical_files(single, tmp_path):
    run("kosovo_2021", runs=1200, days=40, workers=2).save(tmp_path / "w2", data="csv")
    assert folder_bytes(tmp_path / "w2") == folder_bytes(single)


def test_a_dask_local_cluster_writes_byte_identical_files(single, tmp_path):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        run("kosovo_2021", runs=1200, days=40, client=client).save(tmp_path / "dask", data="csv")
    assert folder_bytes(tmp_path / "dask") == folder_bytes(single)


def test_spilled_and_in_memory_ensembles_write_the_same_parquet(tmp_path):
    days = 60
    runs = SPILL_WORK // days + 300  # just over the spill threshold
    big = run("kosovo_2021", runs=runs, days=days)
    assert big.model.spilled
    big.save(tmp_path / "spilled", data="parquet")
    small = run("kosovo_2021", runs=runs, days=days, workers=2)  # blocks of other sizes
    small.save(tmp_path / "blocks", data="parquet")
    for name in ("trajectories.parquet", "events.parquet"):
        assert (tmp_path / "spilled" / name).read_bytes() == (tmp_path / "blocks" / name).read_bytes()


def test_parquet_reads_back_like_the_csv(tmp_path):
    result = run("kosovo_2021", runs=30, days=50)
    result.save(tmp_path / "c", data="csv")
    result.save(tmp_path / "p", data="parquet")
    for name in ("trajectories", "events"):
        csv = pd.read_csv(tmp_path / "c" / f"{name}.csv", dtype={"cameo": str}, keep_default_na=False)
        parquet = pd.read_parquet(tmp_path / "p" / f"{name}.parquet")
        assert list(csv.columns) == list(parquet.columns)
        for column in csv.columns:
            a, b = csv[column].to_numpy(), parquet[column].to_numpy()
            if pd.api.types.is_numeric_dtype(parquet[column]) and column not in ("run", "day"):
                np.testing.assert_allclose(a.astype(float), b, rtol=0, atol=5.01e-5)  # CSV keeps 4 decimals
            else:
                assert [str(x) for x in a] == [str(x) for x in b], column


@pytest.mark.parametrize("k", [0, 1, 2_345, 5_000, 7_777, 9_999])
def test_replicate_k_of_ten_thousand_equals_replicate_k_alone(k, ten_thousand):
    alone = run("kosovo_2021", replicate=k, days=30)
    rows = ten_thousand.outcomes[ten_thousand.outcomes["run"] == k].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, alone.outcomes)
    tension = ten_thousand._tension[k]
    np.testing.assert_array_equal(tension, alone._tension[0])
    events = ten_thousand.events[ten_thousand.events["run"] == k].reset_index(drop=True)
    pd.testing.assert_frame_equal(events, alone.events)


@pytest.fixture(scope="module")
def ten_thousand():
    return run("kosovo_2021", runs=10_000, days=30)


def test_event_modes_keep_all_a_sample_or_none():
    everything = run("kosovo_2021", runs=400, days=30)
    sample = run("kosovo_2021", runs=400, days=30, events="sample")
    nothing = run("kosovo_2021", runs=400, days=30, events="none")
    kept = set(sample.events["run"])
    assert 60 <= len(kept) <= 140  # a seeded sample of about 100 runs
    pd.testing.assert_frame_equal(
        sample.events.reset_index(drop=True),
        everything.events[everything.events["run"].isin(kept)].reset_index(drop=True),
    )
    assert nothing.events.empty
    pd.testing.assert_frame_equal(nothing.outcomes, everything.outcomes)


def test_auto_format_switches_to_parquet_for_large_runs():
    assert run("kosovo_2021", runs=5, days=20).data_format() == "csv"
    assert run("kosovo_2021", runs=2000, days=180, events="none").data_format() == "parquet"


def test_workers_flag_and_events_flag_on_the_cli(cli, tmp_path):
    code, _, err = cli(
        "run",
        "--runs",
        "300",
        "--days",
        "20",
        "--workers",
        "2",
        "--events",
        "sample",
        "--format-data",
        "parquet",
        "--out",
        tmp_path / "w",
    )
    assert code == 0, err
    assert (tmp_path / "w" / "trajectories.parquet").exists() and (tmp_path / "w" / "events.parquet").exists()
    code, _, err = cli("run", "--runs", "5", "--workers", "0", "--out", tmp_path / "bad")
    assert code == 2 and "workers" in err and not (tmp_path / "bad").exists()
    import dask.config

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # nothing listens there
        code, _, err = cli("run", "-n", "5", "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "bad2")
    assert code == 2 and "scheduler" in err and not (tmp_path / "bad2").exists()


SAVE_PEAK = """
import sys
from sim import run

def peak():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) * 1024

result = run("kosovo_2021", runs=int(sys.argv[1]), days=400, events="none")
spill = result.model.store.path.stat().st_size
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak resident size starts again from the current one
before = peak()
result.save(sys.argv[2], data="parquet")
print(spill, peak() - before)
"""


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's clear_refs")
def test_saving_a_spilled_ensemble_takes_the_same_memory_however_large_it_is(tmp_path):
    """The spill is read a row group at a time: saving 3x the runs must not take more memory."""
    growth = {}
    for runs in (1500, 4500):  # 0.6 and 1.8 million trajectory rows, both spilled
        proc = subprocess.run(
            [sys.executable, "-c", SAVE_PEAK, str(runs), str(tmp_path / str(runs))],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        growth[runs] = tuple(int(v) for v in proc.stdout.split())
    (small_spill, small), (big_spill, big) = growth[1500], growth[4500]
    assert big_spill > 2.5 * small_spill  # control: three times the table on disk
    assert big - small < (big_spill - small_spill) / 4, growth  # memory does not follow it


@pytest.mark.parametrize("data", ["csv", "parquet"])
@pytest.mark.parametrize("order", ["rows first", "empty first"])
def test_a_chunk_without_rows_does_not_break_a_table_written_in_chunks(tmp_path, data, order):
    """A block of runs with no sampled event gives a chunk whose text columns have no type (null);
    written next to a chunk with rows, its schema did not match the file's (an internal error)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from sim.ensemble.arrow import pick
    from sim.ensemble.tables import write_chunks

    names = pa.array(["serbia", "kosovo"])
    full = pa.table({"run": np.array([0, 1]), "actor": pick(names, np.array([0, 1]))})
    empty = pa.table({"run": np.array([], dtype=np.int64), "actor": pick(names, np.array([], dtype=int))})
    assert empty.schema != full.schema  # the situation: the empty chunk's text column is typed null
    chunks = [full, empty] if order == "rows first" else [empty, full]
    write_chunks(tmp_path / "t", chunks, data, "%.3f")
    path = tmp_path / f"t.{data}"
    back = pq.read_table(path) if data == "parquet" else pcsv.read_csv(path)
    assert back.column("actor").to_pylist() == ["serbia", "kosovo"]
    # control: a table with no rows at all is still written, header and schema from its one chunk
    write_chunks(tmp_path / "e", [empty, empty], data, "%.3f")
    assert (tmp_path / f"e.{data}").exists()
