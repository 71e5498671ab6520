"""`history:`: moves before day 0 set the run's starting stocks and postures (docs/model.md 5 and 6)."""

from __future__ import annotations

import numpy as np
import pytest

from sim import ScenarioError, load_scenario, run
from sim.model.model import CrisisModel
from sim.model.reference import ReferenceModel

from .conftest import one_error, variant
from .test_engines import assert_same

THREAT = "  - {day: -3, actor: kosovo, move: threaten_sanctions, target: serbia}\n"  # CAMEO 132, -5.8


def day0(path) -> CrisisModel:
    """A model as it stands before day 0 (the history replayed), two replicates."""
    return CrisisModel(load_scenario(path), replicates=2)


def pair(model, a: str, b: str) -> tuple[int, int]:
    ids = model.spec.actor_ids
    return ids.index(a), ids.index(b)


def test_history_raises_the_starting_tension_by_the_models_own_formulas(tmp_path):
    model = day0(variant(tmp_path, "history:\n" + THREAT))
    s, k = pair(model, "serbia", "kosovo")
    p = model.crisis.mechanisms.tension
    # day -3: 3 x 5.8 of tension; days -2 and -1 decay it (docs/model.md 7.3)
    expected = p.event_scale * 5.8 * (1 - p.decay) ** 2
    assert model.state.tension[:, s, k] == pytest.approx([expected] * 2, rel=1e-12)
    assert (model.state.grievance[:, s, k] > 0).all()  # Serbia holds it against Kosovo
    assert (model.state.commitment[:, k] > 0).all()  # a threat commits Kosovo
    # control: the same scenario without a history starts from nothing
    bare = day0(variant(tmp_path, "description: no history\n", "bare.yaml"))
    assert (bare.state.tension == 0).all() and (bare.state.commitment == 0).all()


def test_postures_set_in_the_history_stand_on_day_0_with_their_ages(tmp_path):
    body = "history:\n  - {day: -10, actor: nato, move: provide_peacekeeping, target: kosovo_serbs}\n"
    model = day0(variant(tmp_path, body))
    nato = model.spec.actor_ids.index("nato")
    k = model.spec.postures.ids.index("peacekeepers_reinforced")
    assert model.state.held[:, nato, k].all() and (model.state.age[:, nato, k] == 10).all()
    # it lapses after 15 days in all (the catalogue's max_days): at the end of day 4 of the run
    for _ in range(4):
        model.step()
    assert model.state.held[:, nato, k].all()
    model.step()
    assert not model.state.held[:, nato, k].any()
    # control: set the day before, the same posture is one day old on day 0
    late = day0(variant(tmp_path, body.replace("-10", "-1"), "late.yaml"))
    assert late.state.held[:, nato, k].all() and (late.state.age[:, nato, k] == 1).all()


def test_history_changes_the_runs_and_an_empty_one_changes_nothing(tmp_path):
    def files(path, out):
        run(path, runs=6, posterior=False).save(out, formats=())
        return {
            name: (out / name).read_bytes() for name in ("trajectories.csv", "events.csv", "outcomes.csv")
        }

    none = files(variant(tmp_path, "description: v\n"), tmp_path / "none")
    empty = files(variant(tmp_path, "description: v\nhistory: []\n", "e.yaml"), tmp_path / "empty")
    assert empty == none  # byte for byte
    some = files(variant(tmp_path, "description: v\nhistory:\n" + THREAT, "s.yaml"), tmp_path / "some")
    assert some["trajectories.csv"] != none["trajectories.csv"]  # control: a history does change them


def test_history_moves_are_not_in_the_event_log_or_the_scripted_report(tmp_path):
    result = run(variant(tmp_path, "history:\n" + THREAT), runs=3, posterior=False)
    assert result.events["day"].min() == 0
    assert all(r["day"] >= 0 for r in result.scripted_report())


def test_a_clash_in_the_history_is_the_past_not_the_runs_outcome(tmp_path):
    clash = "  - {day: DAY, actor: kosovo_serbs, move: armed_clash, target: kosovo}\n"
    body = "history:\n  - {day: -3, actor: kosovo_serbs, move: blockade, target: kosovo}\n"
    body += clash.replace("DAY", "-2") + "drop_events: [roadblocks]\n"
    path = variant(tmp_path, body)
    model = day0(path)
    assert not model.state.clashed.any()
    assert_same(run(path, runs=3), run(path, runs=3, engine="reference"))
    # control: the same clash on day 0 is the run's
    later = body.replace(clash.replace("DAY", "-2"), "events:\n" + clash.replace("DAY", "0"))
    model = day0(variant(tmp_path, later, "later.yaml"))
    model.step()
    assert model.state.clashed.all()


def test_both_engines_agree_with_a_history(tmp_path):
    body = (
        "history:\n"
        "  - {date: 2021-09-09, actor: kosovo, move: threaten_sanctions, target: serbia}\n"
        "  - {day: -5, actor: serbia, move: raise_alert, target: kosovo}\n"
        "  - {day: -2, actor: nato, move: provide_peacekeeping, target: kosovo_serbs}\n"
        "  - {day: -1, actor: eu, move: mediate, target: serbia}\n"
    )
    path = variant(tmp_path, body)
    # with the posterior: every replicate replays the history under its own parameters
    assert_same(run(path, runs=4), run(path, runs=4, engine="reference"))
    assert_same(run(path, replicate=9, seed=3), run(path, replicate=9, seed=3, engine="reference"))


def test_the_reference_engine_starts_from_the_same_state(tmp_path):
    path = variant(tmp_path, "history:\n" + THREAT)
    fast, ref = day0(path), ReferenceModel(load_scenario(path), replicate=0)
    np.testing.assert_array_equal(fast.state.tension[0], np.array(ref.world.tension))
    np.testing.assert_array_equal(fast.state.reference[0], np.array(ref.world.reference))


def test_explain_drivers_account_for_the_history(tmp_path):
    model = ReferenceModel(load_scenario(variant(tmp_path, "history:\n" + THREAT)), replicate=0)
    model.track_drivers()
    ids = model.spec.actor_ids
    s, k = ids.index("serbia"), ids.index("kosovo")
    assert model.world.tension[s][k] > 0
    # the tension the history left is Kosovo's doing, and nobody else's (the parts are kept with
    # the coming day's decay applied, as the log does between days)
    decay = model.crisis.mechanisms.tension.decay
    assert model.drivers[k][s][k] == pytest.approx(model.world.tension[s][k] * (1 - decay), rel=1e-12)
    assert all(model.drivers[a][s][k] == 0.0 for a in range(len(ids) + 1) if a != k)
    model.step()  # and the day's parts still add up to the day's tension
    col = model.spec.pairs().index((min(s, k), max(s, k)))
    assert model.driver_log[0][:, col].sum() == pytest.approx(model.world.tension[s][k], rel=1e-9)


def test_a_history_shift_moves_the_status_quo_and_reference_points(tmp_path):
    body = "history:\n  - {day: -30, actor: kosovo, move: plate_rule, target: serbia}\n"
    body += "drop_events: [plate_rule]\n"
    model = day0(variant(tmp_path, body))
    plates = model.spec.issue_ids.index("plates")
    assert (model.state.status_quo[:, plates] == 1.0).all()
    ref = model.state.reference[0, :, plates]
    assert ((ref > 0.0) & (ref < 1.0)).all()  # a month of habituation: part of the way there
    # control: the base's status quo before the rule is 0 and nobody has adapted
    base = day0(variant(tmp_path, "description: same\n", "b.yaml"))
    assert (base.state.status_quo[:, plates] == 0.0).all() and (base.state.reference[..., plates] == 0).all()


# ------------------------------------------------------------- bad input: one line naming history.N.field


@pytest.mark.parametrize(
    "entry, field, words",
    [
        (
            "{date: 2021-09-21, actor: kosovo, move: criticize, target: serbia}",
            "history.0.date",
            "not before",
        ),
        (
            "{date: 2021-09-20, actor: kosovo, move: criticize, target: serbia}",
            "history.0.date",
            "not before",
        ),
        ("{day: 0, actor: kosovo, move: criticize, target: serbia}", "history.0.day", "before the start"),
        ("{day: -2, actor: kosovo, move: critisize, target: serbia}", "history.0.move", "did you mean"),
        ("{day: -2, actor: kosovoo, move: criticize, target: serbia}", "history.0.actor", "unknown actor"),
        ("{day: -2, actor: kosovo, move: criticize, target: serbiaa}", "history.0.target", "unknown actor"),
        ("{day: -2, actor: kosovo, move: criticize}", "history.0.target", "needs a target"),
        ("{day: -2, actor: eu, move: threaten_force, target: serbia}", "history.0.move", "repertoire"),
        ("{day: -2, actor: serbia, move: stand_down, target: kosovo}", "history.0.move", "cannot happen"),
        (
            "{day: -2, actor: kosovo, move: criticize, target: serbia, set: {seed: 1}}",
            "history.0.set",
            "unknown",
        ),
        (
            "{id: roadblocks, day: -2, actor: kosovo, move: criticize, target: serbia}",
            "history.0.id",
            "events.2",
        ),
        (
            "{day: -2, date: 2021-09-01, actor: kosovo, move: criticize, target: serbia}",
            "history.0",
            "not both",
        ),
    ],
)
def test_bad_history_entries_are_one_line_errors_naming_the_field(tmp_path, cli, entry, field, words):
    path = variant(tmp_path, f"history:\n  - {entry}\n")
    line = one_error(cli, "validate", path)
    assert f": {field}: " in line and words in line, line


def test_a_move_whose_posture_the_history_already_set_cannot_be_made_again(tmp_path):
    body = (
        "history:\n"
        "  - {day: -4, actor: serbia, move: raise_alert, target: kosovo}\n"
        "  - {day: -2, actor: serbia, move: raise_alert, target: kosovo}\n"
    )
    with pytest.raises(ScenarioError, match=r"history\.1\.move: 'raise_alert' cannot happen on day -2"):
        load_scenario(variant(tmp_path, body))
    # control: standing down in between makes the second alert possible
    ok = body.replace(
        "  - {day: -2", "  - {day: -3, actor: serbia, move: stand_down, target: kosovo}\n  - {day: -2"
    )
    assert len(load_scenario(variant(tmp_path, ok, "ok.yaml")).history) == 3


def test_the_resolved_scenario_keeps_the_history_by_day_numbers(tmp_path):
    body = "history:\n  - {id: early, date: 2021-09-09, actor: kosovo, move: criticize, target: serbia}\n"
    sc = load_scenario(variant(tmp_path, body))
    dumped = sc.model_dump(mode="json")
    assert dumped["history"][0]["day"] == -11 and "date" not in dumped["history"][0]
    # a run folder's scenario.yaml loads again, to the same history
    assert load_scenario(dumped).model_dump(mode="json")["history"] == dumped["history"]


def test_a_scripted_change_cannot_rewrite_the_history(tmp_path):
    body = "events:\n  - {day: 2, set: {history: []}}\n"
    line = one_error_text(tmp_path, body)
    assert "events.3.set.history" in line and "cannot change during a run" in line


def one_error_text(tmp_path, body) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(variant(tmp_path, body, "x.yaml"))
    return str(info.value)


def test_history_days_stay_out_of_the_trajectories(tmp_path):
    traj = run(variant(tmp_path, "history:\n" + THREAT), runs=2, posterior=False).trajectories
    assert traj["day"].min() == 0 and len(traj) == 2 * 60
