"""Each mechanism's term pushes choices the way the model brief says.

Every test takes the 2021 scenario a few days in (the plain reference model,
which the fast engine matches run for run), changes one input of one mechanism,
and compares the logit choice probabilities the model would use on that same
situation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.model import mechanisms as mx
from sim.model.mechanisms import TERMS
from sim.model.model import CrisisModel
from sim.model.reference import ReferenceModel
from sim.runner import prepare


def model_at(day: int) -> ReferenceModel:
    model = ReferenceModel(prepare("kosovo_2021"))
    for _ in range(day):
        model.step()
    return model


def choice_probs(
    model: ReferenceModel, actor: str, edit=None, overrides=None
) -> dict[tuple[str, str], float]:
    """P(move, target) for one actor on the model's current state.

    `edit(world, index)` changes the state; `overrides` change parameters for
    this decision only, so two calls compare the same situation.
    """
    saved = model.crisis
    if overrides:
        model._compile(prepare(model.crisis, overrides=overrides))
    if edit is not None:
        edit(model.world, model.spec.actor_ids.index)
    model.seen = model.see()
    agent = model.actors[model.spec.actor_ids.index(actor)]
    probs = {
        (model.spec.moves.ids[m], model.spec.actor_ids[t]): p for m, t, p in agent.choice_probabilities()
    }
    model._compile(saved)
    return probs


def p_where(probs, model, target=None, hostile=None, moves=None) -> float:
    mv = model.spec.moves
    total = 0.0
    for (move, tgt), p in probs.items():
        m = mv.index(move)
        if target is not None and tgt != target:
            continue
        if hostile is True and not mv.hostility[m] > 0:
            continue
        if hostile is False and not mv.cooperation[m] > 0:
            continue
        if moves is not None and move not in moves:
            continue
        total += p
    return total


def test_choice_is_the_logit_of_the_summed_terms():
    model = model_at(4)
    model.seen = model.see()
    agent = model.actors[0]
    probs = agent.choice_probabilities()
    utilities = []
    for m, t in agent.options():
        terms = agent.utility_terms(m, t)
        assert tuple(terms) == TERMS
        utilities.append(sum(terms.values()) if agent.allowed(m, t) else None)
    best = max(u for u in utilities if u is not None)
    weights = [0.0 if u is None else math.exp(model.p["rationality"] * (u - best)) for u in utilities]
    expected = [w / sum(weights) for w in weights]
    np.testing.assert_allclose([p for _, _, p in probs], expected, rtol=1e-12)
    assert sum(p for _, _, p in probs) == pytest.approx(1.0)


def test_disposition_hawkish_actors_escalate_more():
    model = model_at(3)
    dove = choice_probs(model, "serbia", overrides={"actors.serbia.hawkishness": 0.2})
    hawk = choice_probs(model, "serbia", overrides={"actors.serbia.hawkishness": 0.9})
    assert p_where(hawk, model, "kosovo", hostile=True) > p_where(dove, model, "kosovo", hostile=True)


def test_reciprocity_grievance_invites_hostility():
    model = model_at(3)

    def aggrieve(world, ix):
        world.grievance[ix("serbia")][ix("kosovo")] += 2.0

    before = p_where(choice_probs(model, "serbia"), model, "kosovo", hostile=True)
    after = p_where(choice_probs(model, "serbia", aggrieve), model, "kosovo", hostile=True)
    assert after > before + 0.05


def test_reciprocity_fatigue_drains_hostility():
    model = model_at(3)

    def tire(world, ix):
        world.hostility[ix("serbia")] += 3.0

    before = p_where(choice_probs(model, "serbia"), model, "kosovo", hostile=True)
    after = p_where(choice_probs(model, "serbia", tire), model, "kosovo", hostile=True)
    assert after < before


def test_deterrence_a_strong_guarantor_makes_escalation_costlier():
    model = model_at(3)
    weak = choice_probs(model, "serbia", overrides={"actors.nato.capability": 0.1})
    strong = choice_probs(model, "serbia", overrides={"actors.nato.capability": 1.0})
    material = ["raise_alert", "show_of_force", "armed_clash"]
    assert p_where(strong, model, "kosovo", moves=material) < p_where(weak, model, "kosovo", moves=material)


def test_audience_costs_make_backing_down_harder():
    model = model_at(2)

    def commit(world, ix):
        world.commitment[ix("kosovo")] += 3.0

    before = p_where(choice_probs(model, "kosovo"), model, moves=["withdraw_police"])
    after = p_where(choice_probs(model, "kosovo", commit), model, moves=["withdraw_police"])
    assert before > 0
    assert after < before / 2


def test_alliance_pull_a_committed_patron_emboldens_its_ally():
    model = model_at(3)
    lukewarm = {"actors.russia.resolve": 0.1, "actors.russia.capability": 0.1}
    committed = {"actors.russia.resolve": 1.0, "actors.russia.capability": 1.0}
    assert p_where(
        choice_probs(model, "serbia", overrides=committed), model, "kosovo", hostile=True
    ) > p_where(choice_probs(model, "serbia", overrides=lukewarm), model, "kosovo", hostile=True)


def test_mediation_pulls_towards_de_escalation():
    model = model_at(3)

    def mediate(world, ix):
        world.mediation[ix("serbia")] += 2.0

    base = choice_probs(model, "serbia")
    pressed = choice_probs(model, "serbia", mediate)
    assert p_where(pressed, model, hostile=True) < p_where(base, model, hostile=True)
    assert p_where(pressed, model, hostile=False) > p_where(base, model, hostile=False)


def test_ripeness_mutual_hurt_with_a_way_out_favours_settlement():
    model = model_at(2)
    settle = ["withdraw_police", "ease_restrictions", "negotiate", "sign_agreement"]

    def way_out(world, ix):
        world.mediation[ix("kosovo")] = 1.0

    def hurting(world, ix):
        way_out(world, ix)
        for actor in ("kosovo", "kosovo_serbs", "serbia"):
            world.costs[ix(actor)] = 30.0

    base = p_where(choice_probs(model, "kosovo", way_out), model, moves=settle)
    assert p_where(choice_probs(model, "kosovo", hurting), model, moves=settle) > base


@pytest.mark.parametrize("weight, changes", [(3.0, True), (0.0, False)])
def test_accidents_risk_averse_actors_pull_forces_out_of_a_hot_contact(weight, changes):
    model = model_at(3)
    params = {"mechanisms.accidents.weight": weight}

    def tension(level):
        def edit(world, ix):
            k, s = ix("kosovo"), ix("kosovo_serbs")
            world.tension[k][s] = world.tension[s][k] = level

        return edit

    cool = p_where(choice_probs(model, "kosovo", tension(10.0), params), model, moves=["withdraw_police"])
    hot = p_where(choice_probs(model, "kosovo", tension(95.0), params), model, moves=["withdraw_police"])
    assert (hot > cool * 1.05) is changes


def test_accidents_happen_more_often_at_high_tension():
    counts = []
    for level in (20.0, 90.0):
        model = CrisisModel(prepare("kosovo_2021"), replicates=4000)
        for _ in range(3):
            model.step()
        k, s = model.spec.actor_ids.index("kosovo"), model.spec.actor_ids.index("kosovo_serbs")
        model.state.tension[:, k, s] = model.state.tension[:, s, k] = level
        model.step()
        ev = model.recorder.events[-1]
        pair = (
            (ev[:, 5] == 2)
            & (np.minimum(ev[:, 2], ev[:, 3]) == min(k, s))
            & (np.maximum(ev[:, 2], ev[:, 3]) == max(k, s))
        )
        counts.append(int(pair.sum()))
    assert counts[1] > 3 * max(counts[0], 1)


def test_incident_risk_and_ripeness_formulas():
    assert mx.incident_risk(100.0, 0.0) == 1.0 and mx.incident_risk(50.0, 0.5) == 0.125
    assert mx.ripe(0.9, 0.9, 0.35, 0.08) > 0.99 > 0.02 > mx.ripe(0.9, 0.0, 0.35, 0.08)
    assert mx.hurt(0.0, 6.0) == 0.0 and 0.6 < mx.hurt(6.0, 6.0) < 0.65
