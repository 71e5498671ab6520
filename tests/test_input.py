"""Scenario input: every value that reaches the engine is checked, and bad input is one clean error."""

from __future__ import annotations

import numpy as np
import pytest

from sim import ScenarioError, load_scenario, run
from sim.model.mechanisms import PARAMS
from sim.scenario.batch import NOT_PER_REPLICATE, batch_paths, validate_batch

from .conftest import SCENARIOS

BASE = SCENARIOS / "kosovo_2021.yaml"


@pytest.fixture(scope="module")
def base():
    return load_scenario(BASE)


# ------------------------------------------------------------- per-replicate values

BAD_BATCHES = {
    "rationality -100": ("mechanisms.rationality", [1.0, -100.0], "found -100 at position 1"),
    "NaN": ("mechanisms.rationality", [float("nan"), 1.0], "found nan at position 0"),
    "infinity": ("mechanisms.mediation.weight", [np.inf, 1.0], "found inf"),
    "negative decay": ("mechanisms.tension.decay", [0.1, -0.5], ">= 0 and <= 1, found -0.5"),
    "capability 50": ("actors.serbia.capability", [50, 0.5], "<= 1, found 50"),
    "affinity below -1": ("affinities.serbia.kosovo", [-1.5, 0.0], ">= -1"),
    "leverage above 1": ("actors.eu.leverage.serbia", [0.5, 2.0], "found 2"),
    "booleans": ("mechanisms.rationality", [True, False], "expected numbers, found True"),
    "text": ("mechanisms.rationality", ["high", 1], "expected numbers, found 'high'"),
    "resolution window": ("mechanisms.outcome.resolution_window", [3, 5], "cannot vary per replicate"),
    "unknown path": ("mechanisms.rationalty", [1.0, 1.0], "did you mean 'mechanisms.rationality'"),
    "unlisted pair": ("affinities.albania.russia", [0.1, 0.2], "not a parameter that can vary"),
    "wrong length": ("mechanisms.rationality", [1.0, 1.0, 1.0], "expected 2 values"),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_run_refuses_a_bad_batch_value(case, base):
    path, values, expected = BAD_BATCHES[case]
    with pytest.raises(ScenarioError) as info:
        run(base, runs=2, batch={path: np.array(values, dtype=object)})
    message = str(info.value)
    assert "\n" not in message and expected in message and path in message, message
    assert message.startswith("batch: ")


def test_run_takes_a_good_batch_and_uses_it(base):
    # Control for the refusals above: in-range values pass and change the answer.
    values = np.array([0.0, 0.0, 1.0, 1.0])
    batched = run(base, runs=4, batch={"mechanisms.rationality": values + 0.01}, events="none")
    plain = run(base, runs=4, events="none")
    assert batched.outcomes.shape == plain.outcomes.shape
    assert not np.array_equal(batched.trajectories["tension"], plain.trajectories["tension"])


def test_a_refused_path_lists_what_the_engine_varies(base):
    with pytest.raises(ScenarioError) as info:
        validate_batch(base, {"mechanisms.outcome.resolution_window": [3]}, "--vary")
    message = str(info.value)
    assert message.startswith("--vary: mechanisms.outcome.resolution_window: ")
    assert "mechanisms.(rationality, " in message and "actors.ID.(capability" in message


def test_batch_source_is_named(base):
    with pytest.raises(ScenarioError, match=r"^runs/cal/posterior.csv: mechanisms.rationality: "):
        validate_batch(base, {"mechanisms.rationality": [np.nan]}, "runs/cal/posterior.csv")


def test_every_bound_comes_from_the_schema(base):
    # A value on the schema's bound passes; just past it is refused, for every path.
    paths = batch_paths(base)
    assert "actors.eu.leverage.serbia" in paths and "affinities.serbia.kosovo" in paths
    for path in paths:
        raw = base.model_dump(mode="json")
        node = raw
        for key in path.split("."):
            node = node[key]
        assert validate_batch(base, {path: [node]})[path][0] == node


def test_per_replicate_paths_are_what_the_engine_reads(base):
    # The mechanism paths a batch may vary are the engine's parameter vector less the
    # ones it reads once per run (listed with the reason in NOT_PER_REPLICATE).
    mech = {p.removeprefix("mechanisms.") for p in batch_paths(base) if p.startswith("mechanisms.")}
    excluded = {p.removeprefix("mechanisms.") for p in NOT_PER_REPLICATE}
    assert mech == set(PARAMS) - excluded
    assert excluded <= set(PARAMS)


def test_every_per_replicate_path_has_both_bounds(base):
    # A path whose bounds were lost (say, a schema refactor) would accept any finite value.
    from sim.scenario.batch import batch_fields

    for path, bounds in batch_fields(base).items():
        assert bounds.lo is not None and bounds.hi is not None, path
