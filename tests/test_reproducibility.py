"""Same scenario, seed and version: the same numbers, byte for byte, however replicates are batched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.model.rng import Purpose, uniforms


def test_same_seed_gives_byte_identical_files(tmp_path):
    for name in ("a", "b"):
        run("kosovo_2021", runs=20, days=40).save(tmp_path / name)
    for table in ("trajectories.csv", "events.csv", "outcomes.csv", "manifest.json"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def test_another_seed_gives_other_numbers():
    a = run("kosovo_2021", runs=5, days=30).trajectories
    b = run("kosovo_2021", runs=5, days=30, seed=7).trajectories
    assert not np.allclose(a["tension"], b["tension"])


@pytest.mark.parametrize("k", [0, 7, 23, 49])
def test_replicate_alone_equals_replicate_in_batch(k):
    batch = run("kosovo_2021", runs=50)
    alone = run("kosovo_2021", replicate=k)
    for table in ("trajectories", "events", "outcomes"):
        whole = getattr(batch, table)
        part = whole[whole["run"] == k].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, getattr(alone, table), check_exact=True)


def test_replicate_in_batch_with_other_parameters_of_other_replicates():
    """A per-replicate parameter batch leaves the replicates that share the base value unchanged."""
    values = np.full(10, 0.6)
    values[5:] = 0.95  # half the runs, so that the control below does not hang on one quiet replicate
    batched = run("kosovo_2021", runs=10, batch={"actors.russia.resolve": values})
    plain = run("kosovo_2021", runs=10)
    same = batched.trajectories["run"].isin([0, 1, 3])
    base06 = run("kosovo_2021", runs=10, overrides={"actors.russia.resolve": 0.6})
    pd.testing.assert_frame_equal(
        batched.trajectories[same].reset_index(drop=True),
        base06.trajectories[same].reset_index(drop=True),
    )
    assert not batched.trajectories["tension"].equals(plain.trajectories["tension"])


def test_random_streams_are_counter_based():
    full = uniforms(11, 4, Purpose.CHOICE, np.arange(1000), 7)
    picked = uniforms(11, 4, Purpose.CHOICE, np.array([3, 999, 500, 501]), 7)
    np.testing.assert_array_equal(picked, full[[3, 999, 500, 501]])
    other_day = uniforms(11, 5, Purpose.CHOICE, np.arange(1000), 7)
    other_purpose = uniforms(11, 4, Purpose.ACCIDENT, np.arange(1000), 7)
    assert not np.array_equal(full, other_day)
    assert not np.array_equal(full, other_purpose)
    assert full.min() >= 0.0 and full.max() < 1.0
    assert abs(full.mean() - 0.5) < 0.01
