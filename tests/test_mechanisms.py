"""Each mechanism's term pushes choices the way the model brief says.

Every test takes the 2021 scenario a few days in, changes one input of one
mechanism, and compares the logit choice probabilities the model would use.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.mechanisms import TERMS, Situation, available, probabilities, utility_terms
from sim.model import CrisisModel
from sim.runner import prepare
from sim.spec import compile_spec


def model_at(day: int, overrides=None, replicates: int = 1) -> CrisisModel:
    model = CrisisModel(prepare("kosovo_2021", overrides=overrides), replicates=replicates)
    for _ in range(day):
        model.step()
    return model


def choice_probs(model: CrisisModel, actor: str, edit=None, overrides=None) -> dict[tuple[str, str], float]:
    """P(move, target) for one actor in replicate 0 on the model's current state.

    `edit` changes a copy of the state; `overrides` change parameters for this
    decision only, so two calls compare the same situation.
    """
    spec = model.spec if overrides is None else compile_spec(prepare(model.crisis, overrides=overrides))
    state = copy.deepcopy(model.state)
    if edit is not None:
        edit(state, spec.actor_ids.index)
    sit = Situation.of(state, spec)
    opts = spec.options[spec.actor_ids.index(actor)]
    utility = sum(utility_terms(sit, spec, opts).values())
    p = probabilities(utility, available(sit, spec, opts), spec.mech["rationality"])[0]
    return {
        (spec.moves.ids[m], spec.actor_ids[t]): float(p[k])
        for k, (m, t) in enumerate(zip(opts.move, opts.target, strict=True))
    }


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


def test_terms_add_up_to_the_utility_the_model_uses():
    model = model_at(4)
    spec = model.spec
    sit = Situation.of(model.state, spec)
    for agent in model.actors:
        terms = utility_terms(sit, spec, agent.options)
        assert set(terms) == set(TERMS)
        total = sum(terms.values())
        stacked = np.sum(np.stack([np.broadcast_to(t, total.shape) for t in terms.values()]), 0)
        np.testing.assert_allclose(total, stacked)


def test_disposition_hawkish_actors_escalate_more():
    model = model_at(3)
    dove = choice_probs(model, "serbia", overrides={"actors.serbia.hawkishness": 0.2})
    hawk = choice_probs(model, "serbia", overrides={"actors.serbia.hawkishness": 0.9})
    assert p_where(hawk, model, "kosovo", hostile=True) > p_where(dove, model, "kosovo", hostile=True)


def test_reciprocity_grievance_invites_hostility():
    model = model_at(3)

    def aggrieve(state, ix):
        state.grievance[:, ix("serbia"), ix("kosovo")] += 2.0

    before = p_where(choice_probs(model, "serbia"), model, "kosovo", hostile=True)
    after = p_where(choice_probs(model, "serbia", aggrieve), model, "kosovo", hostile=True)
    assert after > before + 0.05


def test_reciprocity_fatigue_drains_hostility():
    model = model_at(3)

    def tire(state, ix):
        state.hostility[:, ix("serbia")] += 3.0

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

    def commit(state, ix):
        state.commitment[:, ix("kosovo")] += 3.0

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

    def mediate(state, ix):
        state.mediation[:, ix("serbia")] += 2.0

    base = choice_probs(model, "serbia")
    pressed = choice_probs(model, "serbia", mediate)
    assert p_where(pressed, model, hostile=True) < p_where(base, model, hostile=True)
    assert p_where(pressed, model, hostile=False) > p_where(base, model, hostile=False)


def test_ripeness_mutual_hurt_with_a_way_out_favours_settlement():
    model = model_at(2)
    settle = ["withdraw_police", "ease_restrictions", "negotiate", "sign_agreement"]

    def way_out(state, ix):
        state.mediation[:, ix("kosovo")] = 1.0

    def hurting(state, ix):
        way_out(state, ix)
        for actor in ("kosovo", "kosovo_serbs", "serbia"):
            state.costs[:, ix(actor)] = 30.0

    assert p_where(choice_probs(model, "kosovo", hurting), model, moves=settle) > p_where(
        choice_probs(model, "kosovo", way_out), model, moves=settle
    )


@pytest.mark.parametrize("weight, changes", [(3.0, True), (0.0, False)])
def test_accidents_risk_averse_actors_pull_forces_out_of_a_hot_contact(weight, changes):
    model = model_at(3)
    params = {"mechanisms.accidents.weight": weight}

    def tension(level):
        def edit(state, ix):
            k, s = ix("kosovo"), ix("kosovo_serbs")
            state.tension[:, k, s] = state.tension[:, s, k] = level

        return edit

    cool = p_where(choice_probs(model, "kosovo", tension(10.0), params), model, moves=["withdraw_police"])
    hot = p_where(choice_probs(model, "kosovo", tension(95.0), params), model, moves=["withdraw_police"])
    assert (hot > cool * 1.05) is changes


def test_accidents_happen_more_often_at_high_tension():
    model = model_at(3, replicates=4000)
    counts = []
    for level in (20.0, 90.0):
        k, s = model.spec.actor_ids.index("kosovo"), model.spec.actor_ids.index("kosovo_serbs")
        model.state.tension[:, k, s] = model.state.tension[:, s, k] = level
        model.situation = Situation.of(model.state, model.spec)
        _, src, tgt, *_ = model._accidents(3)
        pair = (np.minimum(src, tgt) == min(k, s)) & (np.maximum(src, tgt) == max(k, s))
        counts.append(int(pair.sum()))
    assert counts[1] > 3 * max(counts[0], 1)
