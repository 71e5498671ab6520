"""The fast engine and the plain reference implementation agree run for run.

Tolerance: trajectories to a relative 1e-12 (both do the same float operations
in the same order, so they agree to the last bit in practice); events and
outcomes exactly.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim import bundled_scenarios, run

RTOL = 1e-12


def assert_same(fast, ref) -> None:
    pd.testing.assert_frame_equal(fast.trajectories, ref.trajectories, check_exact=False, rtol=RTOL, atol=0)
    pd.testing.assert_frame_equal(fast.events, ref.events, check_exact=True)
    pd.testing.assert_frame_equal(fast.outcomes, ref.outcomes, check_exact=False, rtol=RTOL, atol=0)


@pytest.mark.parametrize("scenario", bundled_scenarios())
def test_engines_agree_on_every_bundled_scenario(scenario):
    assert_same(run(scenario, runs=4), run(scenario, runs=4, engine="reference"))


@pytest.mark.parametrize("seed, replicate", [(1, 0), (7, 123), (20210920, 9_999), (424242, 31)])
def test_engines_agree_on_other_seeds_and_replicates(seed, replicate):
    fast = run("kosovo_2021", replicate=replicate, seed=seed, days=90)
    ref = run("kosovo_2021", replicate=replicate, seed=seed, days=90, engine="reference")
    assert_same(fast, ref)
    assert len(fast.events) > 20  # a real run, not an empty one


def test_engines_agree_with_a_clash_in_the_run():
    # without EU mediation a tenth of the runs clash; find one and compare it
    fast = run("kosovo_2021_no_eu_mediation", runs=40)
    clashed = fast.outcomes.loc[fast.outcomes["outcome"] == "armed clash", "run"].tolist()
    assert clashed
    k = clashed[0]
    assert_same(
        run("kosovo_2021_no_eu_mediation", replicate=k),
        run("kosovo_2021_no_eu_mediation", replicate=k, engine="reference"),
    )


def test_unknown_engine_is_a_user_error():
    from sim import UserError

    with pytest.raises(UserError, match="engine"):
        run("kosovo_2021", engine="turbo")


@pytest.mark.parametrize(
    "path, values",
    [
        ("mechanisms.activity.crisis", [0.0, 0.4, 1.7]),  # the crisis' weight in arousal (docs 7.2)
        ("mechanisms.escalation.shared", [0.0, 0.5, 1.0]),  # the ladder's shared part (docs 7.1)
    ],
)
def test_engines_agree_on_a_weight_whose_default_is_the_previous_model(path, values):
    # read alike by both engines, per replicate
    fast = run("kosovo_2021", runs=3, days=40, batch={path: values})
    assert_same(fast, run("kosovo_2021", runs=3, days=40, batch={path: values}, engine="reference"))
    # control: the weight is read (50 runs at 0 differ from the same runs at 1, the previous model)
    off, on = (run("kosovo_2021", runs=50, days=40, overrides={path: v}) for v in (0, 1))
    assert not off.events.equals(on.events)


def test_engines_agree_on_unanswered_blows():
    # the Pulwama bombing is a blow; India answering it, and being roused by it, read alike per replicate
    batch = {
        "mechanisms.retaliation.weight": [0.0, 3.0, 10.0, 6.0],
        "mechanisms.retaliation.arousal": [2.25, 0.0, 5.0, 1.0],
    }
    fast = run("india_pakistan_2019", runs=4, days=30, batch=batch)
    assert_same(fast, run("india_pakistan_2019", runs=4, days=30, batch=batch, engine="reference"))
    # control: the values are read (the same runs with the mechanism off differ)
    off = {k: [0.0] * 4 for k in batch}
    assert not fast.events.equals(run("india_pakistan_2019", runs=4, days=30, batch=off).events)
