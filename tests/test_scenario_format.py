"""The general scenario format: event ids (drop and replace in variants), events by date, scripted
moves that cannot happen are reported, and `sim new` writes a starter scenario."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from sim import ScenarioError, load_scenario, run
from sim.model.scripted import REASONS
from sim.scenario.loader import _catalogue

from .conftest import SCENARIOS, one_error, variant, write

BASE = SCENARIOS / "kosovo_2021.yaml"
TRIGGERS = ["plate_rule", "police_deployed", "roadblocks"]


def ids(path) -> list[str | None]:
    return [e.id for e in load_scenario(path).events]


# ------------------------------------------------------------- ids, drop and replace


def test_the_2021_trigger_events_have_ids():
    assert ids("kosovo_2021") == TRIGGERS


def test_a_variant_drops_an_inherited_event_by_id(tmp_path):
    assert ids(variant(tmp_path, "drop_events: [roadblocks]\n")) == ["plate_rule", "police_deployed"]
    # Control: without drop_events the variant inherits all three.
    assert ids(variant(tmp_path, "description: same\n", "w.yaml")) == TRIGGERS


def test_a_dropped_event_is_not_made_in_the_runs(tmp_path):
    def blockades(path) -> int:
        ev = run(path, runs=5, days=2, posterior=False).events
        return int(((ev.kind == "scripted") & (ev.move == "blockade") & (ev.day == 0)).sum())

    assert blockades(variant(tmp_path, "drop_events: [roadblocks]\n")) == 0
    assert blockades(BASE) == 5  # control: the base scripts the roadblocks in every run


def test_a_variant_replaces_an_inherited_event_in_place_and_whole(tmp_path):
    body = (
        "events:\n"
        "  - {id: roadblocks, replace: true, day: 2, actor: kosovo_serbs, move: blockade, target: kosovo}\n"
        "  - {id: later, day: 4, actor: kosovo_serbs, move: demonstrate, target: kosovo}\n"
    )
    events = load_scenario(variant(tmp_path, body)).events
    assert [e.id for e in events] == [*TRIGGERS, "later"]  # in the inherited event's place
    assert events[2].day == 2 and events[2].label is None  # whole: the old label went with it
    assert load_scenario(BASE).events[2].label == "roadblocks"  # control: the base has one


def test_drop_and_replace_apply_to_what_each_file_inherits(tmp_path):
    write(tmp_path, "base.yaml", BASE.read_text())
    write(
        tmp_path,
        "mid.yaml",
        "name: mid\nextends: base.yaml\ndrop_events: [roadblocks]\n"
        "events:\n  - {id: alert, day: 2, actor: serbia, move: raise_alert, target: kosovo}\n",
    )
    top = write(
        tmp_path,
        "top.yaml",
        "name: top\nextends: mid.yaml\n"
        "events:\n  - {id: alert, replace: true, day: 3, actor: serbia, move: raise_alert, target: kosovo}\n",
    )
    events = load_scenario(top).events
    assert [(e.id, e.day) for e in events] == [("plate_rule", 0), ("police_deployed", 0), ("alert", 3)]
    # what the middle file dropped is no longer there to drop
    again = write(tmp_path, "again.yaml", "name: again\nextends: mid.yaml\ndrop_events: [roadblocks]\n")
    with pytest.raises(ScenarioError, match=r"again\.yaml: drop_events\.0: no inherited event has the id"):
        load_scenario(again)


BAD_VARIANTS = {
    "unknown id to drop": (
        "drop_events: [roadblock]\n",
        "drop_events.0: no inherited event has the id 'roadblock'",
        "did you mean 'roadblocks'",
    ),
    "drop_events not a list": ("drop_events: roadblocks\n", "drop_events: expected a list", ""),
    "unknown id to replace": (
        "events:\n  - {id: roadblok, replace: true, day: 1, set: {seed: 2}}\n",
        "events.0.id: no inherited event has the id 'roadblok'",
        "expected one of: plate_rule, police_deployed, roadblocks",
    ),
    "replace without an id": (
        "events:\n  - {replace: true, day: 1, set: {seed: 2}}\n",
        "events.0: 'replace: true' needs the 'id'",
        "",
    ),
    "an inherited id without replace": (
        "events:\n  - {id: roadblocks, day: 1, actor: kosovo_serbs, move: demonstrate, target: kosovo}\n",
        "events.0.id: 'roadblocks' is the id of an inherited event",
        "replace: true",
    ),
    "dropped and replaced": (
        "drop_events: [roadblocks]\nevents:\n  - {id: roadblocks, replace: true, day: 1, set: {seed: 2}}\n",
        "events.0.id: 'roadblocks' is both dropped",
        "",
    ),
    "replaced twice": (
        "events:\n  - {id: roadblocks, replace: true, day: 1, set: {seed: 2}}\n"
        "  - {id: roadblocks, replace: true, day: 2, set: {seed: 3}}\n",
        "events.1.id: 'roadblocks' is already replaced by events.0",
        "",
    ),
    "the same new id twice": (
        "events:\n  - {id: extra, day: 1, actor: kosovo_serbs, move: demonstrate, target: kosovo}\n"
        "  - {id: extra, day: 2, actor: kosovo_serbs, move: demonstrate, target: kosovo}\n",
        "events.4.id: 'extra' is already the id of events.3; ids are unique",
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_VARIANTS))
def test_a_bad_drop_or_replace_is_one_line_naming_the_field(case, cli, tmp_path):
    body, expected, hint = BAD_VARIANTS[case]
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert f"v.yaml: {expected}" in line and hint in line


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("drop_events: [x]\n", "drop_events"),
        ("events:\n  - {id: x, replace: true, day: 0, set: {seed: 2}}\n", "events.0.replace"),
    ],
)
def test_drop_and_replace_outside_a_variant_are_refused(body, field, cli, tmp_path):
    plain = yaml.safe_load(BASE.read_text())
    plain.pop("events")
    path = write(tmp_path, "plain.yaml", yaml.safe_dump(plain) + body)
    line = one_error(cli, "validate", path)
    assert f"{field}: " in line and "belongs in a variant" in line


def test_duplicate_ids_in_one_file_are_refused(cli, tmp_path):
    text = BASE.read_text().replace("  - id: police_deployed", "  - id: plate_rule")
    line = one_error(cli, "validate", write(tmp_path, "dup.yaml", text))
    assert "events.1.id: 'plate_rule' is already the id of events.0" in line
    code, _, err = cli("validate", BASE)  # control: the file as shipped
    assert code == 0, err


def test_the_resolved_scenario_keeps_ids_and_reloads(tmp_path):
    # what a run folder's scenario.yaml holds: days, ids, no date/replace/drop_events keys
    body = (
        "drop_events: [roadblocks]\n"
        "events:\n  - {id: plate_rule, replace: true, date: 2021-09-21, actor: kosovo, move: plate_rule,"
        " target: serbia}\n"
    )
    sc = load_scenario(variant(tmp_path, body))
    dumped = sc.model_dump(mode="json", exclude={"extends"})
    assert "drop_events" not in dumped
    assert dumped["events"][0] == {
        "id": "plate_rule",
        "day": 1,
        "actor": "kosovo",
        "move": "plate_rule",
        "target": "serbia",
        "set": None,
        "label": None,
    }
    again = load_scenario(write(tmp_path, "resolved.yaml", yaml.safe_dump(dumped)))
    assert again.model_dump(mode="json", exclude={"extends"}) == dumped


# ------------------------------------------------------------- events by date


def test_an_event_placed_by_date_lands_on_its_day(tmp_path):
    move = "actor: kosovo, move: withdraw_police, target: kosovo_serbs"
    by_date = load_scenario(variant(tmp_path, f"events:\n  - {{date: 2021-09-23, {move}}}\n"))
    by_day = load_scenario(variant(tmp_path, f"events:\n  - {{day: 3, {move}}}\n", "w.yaml"))
    assert by_date.events[-1].day == 3
    assert by_date.events[-1].date is not None and by_day.events[-1].date is None
    a = run(by_date, runs=3, days=5, posterior=False)
    b = run(by_day, runs=3, days=5, posterior=False)
    assert a.events.equals(b.events)  # the same scenario, written two ways


def test_the_bundled_early_withdrawal_is_placed_by_date():
    sc = load_scenario("kosovo_2021_early_police_withdrawal")
    assert [(e.id, e.day) for e in sc.events[3:]] == [("early_withdrawal", 3), ("no_redeployment", 3)]


BAD_DATES = {
    "before the start": ("date: 2021-09-19", "events.3.date: 2021-09-19 is before the start date 2021-09-20"),
    "after the last day": (
        "date: 2021-11-19",
        "events.3.date: 2021-11-19 is after the run's last day, 2021-11-18",
    ),
    "not a date": ("date: 2021-09-31", "events.3.date: "),
    "day and date": ("day: 3, date: 2021-09-23", "events.3: expected either 'day' or 'date'"),
    "neither": ("label: x", "events.3: expected 'day' (0 = the start date) or 'date'"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATES))
def test_a_bad_date_is_one_line_naming_the_field(case, cli, tmp_path):
    when, expected = BAD_DATES[case]
    body = f"events:\n  - {{{when}, actor: kosovo, move: withdraw_police, target: kosovo_serbs}}\n"
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert expected in line


def test_the_last_day_of_the_run_is_a_valid_date(cli, tmp_path):
    # control for "after the last day": 60 days from 2021-09-20 end on 2021-11-18
    body = "events:\n  - {date: 2021-11-18, actor: kosovo, move: withdraw_police, target: kosovo_serbs}\n"
    assert load_scenario(variant(tmp_path, body)).events[-1].day == 59


# ------------------------------------------------------------- scripted moves that cannot happen

HIGH_ALERT = "events:\n  - {id: high_alert, day: 3, actor: serbia, move: raise_alert_high, target: kosovo}\n"


def made_runs(result, move: str, day: int) -> set[int]:
    ev = result.events
    return set(ev.run[(ev.kind == "scripted") & (ev.move == move) & (ev.day == day)])


def test_a_scripted_move_ruled_out_is_counted_per_run_and_reason(tmp_path):
    # Serbia's highest alert requires the raised one: in runs where Serbia has not raised it
    # by day 3 (or is already at the highest), the kernel skips the scripted move.
    result = run(variant(tmp_path, HIGH_ALERT), runs=40, days=5, posterior=False)
    report = {row["id"]: row for row in result.scripted_report()}
    made = made_runs(result, "raise_alert_high", 3)
    assert 0 < len(made) < 40  # the case is a real one: some runs get it, some do not
    assert report["high_alert"]["runs_without"] == 40 - len(made)
    assert sum(report["high_alert"]["reasons"].values()) == 40 - len(made)
    assert set(report["high_alert"]["reasons"]) <= set(REASONS) - {
        "other"
    }  # the reasons agree with the kernel
    assert "required_missing" in report["high_alert"]["reasons"]
    # Control: the day-0 triggers need nothing that is not there, and every run has them.
    for name in TRIGGERS:
        assert report[name]["runs_without"] == 0


def test_skipped_scripted_moves_are_counted_without_the_event_log(tmp_path):
    path = variant(tmp_path, HIGH_ALERT)
    counts = {
        mode: run(path, runs=30, days=5, events=mode, posterior=False).model.scripted_missed
        for mode in ("all", "sample", "none")
    }
    assert counts["all"].sum() > 0
    assert np.array_equal(counts["all"], counts["none"]) and np.array_equal(counts["all"], counts["sample"])
    # the event log itself still follows --events
    assert len(run(path, runs=30, days=5, events="none", posterior=False).events) == 0


def test_both_engines_count_the_same_skips(tmp_path):
    path = variant(tmp_path, HIGH_ALERT)
    fast = run(path, runs=6, days=5, posterior=False)
    reference = run(path, runs=6, days=5, posterior=False, engine="reference")
    assert fast.events.equals(reference.events)
    assert np.array_equal(fast.model.scripted_missed, reference.model.scripted_missed)


def test_the_summary_and_manifest_report_a_skipped_scripted_move(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli(
        "run",
        variant(tmp_path, HIGH_ALERT),
        "--runs",
        20,
        "--days",
        5,
        "--events",
        "none",
        "--point-values",
        "--out",
        out,
    )
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    row = next(r for r in manifest["scripted"] if r["id"] == "high_alert")
    k = row["runs_without"]
    assert 0 < k < 20 and row["day"] == 3 and row["date"] == "2021-09-23"
    line = next(x for x in stdout.splitlines() if "scripted 'high_alert'" in x)
    assert (
        f"(serbia raise_alert_high -> kosovo, day 3) did not happen in {k / 20:.0%} of runs ({k} of 20)"
        in line
    )
    assert "a required posture was not in place" in line
    # Control: the base scenario's scripted moves always happen, and the summary says nothing of them.
    code, stdout, err = cli("run", BASE, "--runs", 20, "--days", 5, "--point-values", "--out", tmp_path / "b")
    assert code == 0, err
    assert "scripted" not in stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [r["runs_without"] for r in manifest["scripted"]] == [0, 0, 0]


def test_a_scripted_move_after_a_shorter_run_is_reported(tmp_path):
    result = run(variant(tmp_path, HIGH_ALERT), runs=2, days=3, posterior=False)
    notes = result.summary().notes
    assert notes == (
        "scripted 'high_alert' (serbia raise_alert_high -> kosovo, day 3) never happened: "
        "it falls after the run's last day, day 2",
    )


# ------------------------------------------------------------- sim new


def test_sim_new_writes_a_starter_that_validates_and_runs(cli, tmp_path):
    code, stdout, err = cli("new", "my_crisis", "--actors", "gov,rebels:armed_group,un", "--out", tmp_path)
    assert code == 0, err
    path = tmp_path / "my_crisis.yaml"
    text = path.read_text()
    assert text.count("#") > 20 and "TODO" in text  # a commented template to edit
    sc = load_scenario(path)
    assert list(sc.actors) == ["gov", "rebels", "un"]
    assert [a.role for a in sc.actors.values()] == ["state", "armed_group", "mediator"]
    assert sc.principals == ["gov", "rebels"] and sc.affinity("gov", "rebels") < 0
    assert [(e.id, e.actor, e.target) for e in sc.events] == [("trigger", "gov", "rebels")]
    code, stdout, err = cli("validate", path)
    assert code == 0 and "ok" in stdout, err
    code, stdout, err = cli("run", path, "--runs", 20, "--out", tmp_path / "run")
    assert code == 0, err
    assert "my_crisis: 20 runs" in stdout


def test_a_three_actor_crisis_from_sim_new_edits_and_runs_with_nothing_from_another_crisis(cli, tmp_path):
    """sim new -> edit -> sim run: a user's own three-actor standoff needs no field of another crisis,
    and the moves it can make are the generic catalogue's. Control: the 2021 scenario does carry
    crisis-specific moves (the plates), so the check could fail."""
    code, _, err = cli("new", "standoff", "--actors", "india,pakistan,usa:great_power", "--out", tmp_path)
    assert code == 0, err
    path = tmp_path / "standoff.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["issues"]["main_issue"]["label"] = "the line of control"
    raw["issues"]["main_issue"].update(low="status quo ante", high="a punitive strike unanswered")
    raw["events"] = [
        {"id": "attack", "day": 0, "actor": "pakistan", "move": "threaten_force", "target": "india"},
        {"id": "alert", "day": 2, "actor": "india", "move": "raise_alert", "target": "pakistan"},
    ]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    sc = load_scenario(path)
    generic = set(_catalogue()["moves"])
    assert set(sc.moves) <= generic
    assert "recognises_kosovo" not in path.read_text()
    code, stdout, err = cli("run", path, "--runs", 20, "--out", tmp_path / "run")
    assert code == 0, err
    assert "standoff: 20 runs" in stdout
    assert not set(load_scenario(BASE).moves) <= generic  # control


def test_sim_new_writes_into_the_current_folder_and_never_overwrites(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("new", "c", "--actors", "a,b", "--start-date", "2024-05-01")
    assert code == 0, err
    first = (tmp_path / "c.yaml").read_text()
    assert "start_date: 2024-05-01" in first
    line = one_error(cli, "new", "c", "--actors", "x,y,z")
    assert "c.yaml: already exists" in line
    assert (tmp_path / "c.yaml").read_text() == first


@pytest.mark.parametrize("role", sorted(_catalogue()["roles"]))
def test_sim_new_accepts_every_catalogue_role(role, cli, tmp_path):
    code, _, err = cli("new", "r", "--actors", f"a:{role},b:{role},c", "--out", tmp_path)
    assert code == 0, err
    assert load_scenario(tmp_path / "r.yaml").actors["a"].role == role


BAD_ACTORS = {
    "one actor": ("gov", "expected at least two actors"),
    "empty": ("", "expected actor ids separated by commas"),
    "an empty item": ("gov,,un", "actor 2 is empty"),
    "not an id": ("Gov,rebels", "actor 1, 'Gov' is not an id"),
    "a space": ("gov,the rebels", "actor 2, 'the rebels' is not an id"),
    "twice": ("gov,gov", "actor 'gov' is given twice"),
    "unknown role": ("gov,rebels:mediatr", "unknown role 'mediatr' for 'rebels'"),
    "too many": (",".join(f"a{k}" for k in range(51)), "expected at most 50 actors"),
}


@pytest.mark.parametrize("case", sorted(BAD_ACTORS))
def test_bad_actors_for_sim_new_are_one_line(case, cli, tmp_path):
    actors, expected = BAD_ACTORS[case]
    line = one_error(cli, "new", "c", "--actors", actors, "--out", tmp_path)
    assert f"--actors: {expected}" in line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_bad_name_for_sim_new_is_one_line(cli, tmp_path):
    line = one_error(cli, "new", "My Crisis", "--actors", "a,b", "--out", tmp_path)
    assert "NAME: the name 'My Crisis' is not an id" in line
    code, _, err = cli("new", "my_crisis.yaml", "--actors", "a,b", "--out", tmp_path)  # control
    assert code == 0 and (tmp_path / "my_crisis.yaml").exists(), err


def test_the_readme_variant_example_validates(tmp_path):
    readme = (SCENARIOS.parent / "README.md").read_text()
    block = next(b for b in readme.split("```yaml\n")[1:] if "drop_events:" in b).split("```")[0]
    sc = load_scenario(write(tmp_path, "example.yaml", block))
    assert [(e.id, e.day) for e in sc.events] == [
        ("plate_rule", 1),
        ("police_deployed", 0),
        ("early_withdrawal", 3),
        (None, 8),
    ]


def test_a_scenario_of_ones_own_naming_a_posterior_draws_from_it(cli, tmp_path):
    """`posterior:` in a new scenario (the starter names the library's): every parameter the file does
    not set takes the posterior's point value and is drawn per replicate; one the file sets stays
    (control: the same file without the line keeps the schema's defaults and draws nothing)."""
    from sim.ensemble.posterior import point_values, read_posterior, scenario_draws

    code, _, err = cli("new", "mine", "--actors", "a,b,c", "--out", tmp_path)
    assert code == 0, err
    text = (tmp_path / "mine.yaml").read_text()
    assert "\nposterior: posteriors/library.csv\n" in text
    named = tmp_path / "named.yaml"
    named.write_text(text + "\nmechanisms: {accidents: {hazard: 0.3}}\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text(text.replace("\nposterior: posteriors/library.csv\n", "\n"))
    points = point_values(read_posterior(SCENARIOS / "posteriors" / "library.csv"))
    sc = load_scenario(named)
    assert sc.mechanisms.activity.base == points["mechanisms.activity.base"]
    assert sc.roles["mediator"].activity == points["roles.mediator.activity"]
    assert sc.mechanisms.accidents.hazard == 0.3  # the file's own value
    draws = scenario_draws(sc, np.arange(200))
    assert len(set(draws["mechanisms.activity.base"])) > 5
    assert "mechanisms.accidents.hazard" not in draws
    own = load_scenario(plain)
    assert own.mechanisms.activity.base != points["mechanisms.activity.base"] and not scenario_draws(
        own, np.arange(200)
    )


def test_the_starters_history_example_validates_once_uncommented(cli, tmp_path):
    code, _, err = cli("new", "mine", "--actors", "a,b,c", "--out", tmp_path)
    assert code == 0, err
    text = (tmp_path / "mine.yaml").read_text()
    assert "# history:" in text
    path = tmp_path / "mine.yaml"
    path.write_text(text.replace("# history:", "history:").replace("#   - {id: earlier", "  - {id: earlier"))
    sc = load_scenario(path)
    assert [(e.id, e.day) for e in sc.history] == [("earlier", -3)]
