"""Scoring rules and skill scores of the backtests (sim.analysis.scores), on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis import scores


def test_the_crps_of_a_point_forecast_is_the_absolute_error():
    rng = np.random.default_rng(1)
    obs, point = rng.normal(0, 5, 50), rng.normal(0, 5, 50)
    np.testing.assert_allclose(scores.crps(obs, point), np.abs(obs - point))
    # an ensemble whose members all agree is the same point
    np.testing.assert_allclose(scores.crps(obs, np.repeat(point[:, None], 7, axis=1)), np.abs(obs - point))


def test_the_crps_of_a_two_member_ensemble_by_hand():
    # CRPS = E|X - y| - E|X - X'| / 2; members -1 and 1 at y = 0: 1 - 1 / 2 = 0.5
    assert scores.crps(np.array([0.0]), np.array([[-1.0, 1.0]]))[0] == pytest.approx(0.5)
    # at y = 3: E|X - 3| = 3, half the mean spread 0.5
    assert scores.crps(np.array([3.0]), np.array([[-1.0, 1.0]]))[0] == pytest.approx(2.5)


def test_brier_and_interval_scores_by_hand():
    np.testing.assert_allclose(scores.brier([1, 0, 1], [0.7, 0.7, 1.0]), [0.09, 0.49, 0.0])
    # width 0.4; a miss above by 0.6 at alpha 0.5 costs 2 / 0.5 * 0.6 = 2.4 more
    np.testing.assert_allclose(scores.interval([0.1, 1.0], [0.0, 0.0], [0.4, 0.4], 0.5), [0.4, 2.8])
    np.testing.assert_allclose(scores.covered([0.1, 1.0, 0.0], [0.0] * 3, [0.4] * 3), [1, 0, 1])


def test_skill_of_a_perfect_forecast_is_one_and_of_the_baseline_itself_zero():
    baseline = np.array([2.0, 1.0, 3.0])
    assert scores.skill(np.zeros(3), baseline) == 1.0
    assert scores.skill(baseline, baseline) == 0.0
    assert scores.skill(2 * baseline, baseline) == -1.0
    assert np.isnan(scores.skill(baseline, np.zeros(3)))  # nothing to beat: undefined, not infinite
    low, high = scores.skill_interval(np.zeros(3), baseline)
    assert low == high == 1.0


def test_a_shuffled_forecast_loses_its_skill():
    """Control: the skill comes from matching the right forecast to the right day."""
    rng = np.random.default_rng(7)
    days = 200
    truth = rng.normal(0, 10, days)
    ensemble = truth[:, None] + rng.normal(0, 2, (days, 50))  # sharp and centred on each day's truth
    climatology = np.broadcast_to(truth, (days, days))  # every day's value, pooled
    base = scores.crps(truth, climatology)
    good = scores.skill(scores.crps(truth, ensemble), base)
    shuffled = scores.skill(scores.crps(truth, ensemble[rng.permutation(days)]), base)
    assert good > 0.6 and shuffled < 0, (good, shuffled)
    low, high = scores.skill_interval(scores.crps(truth, ensemble), base)
    assert low <= good <= high and low > shuffled
