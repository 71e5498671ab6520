"""Scenario input: every value that reaches the engine is checked, and bad input is one clean error."""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import ScenarioError, load_scenario, run
from sim.errors import UserError
from sim.model.mechanisms import PARAMS
from sim.scenario.batch import NOT_PER_REPLICATE, batch_paths, validate_batch

from .conftest import SCENARIOS, one_error, variant, write

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


# ------------------------------------------------------------- helpers for files


# ------------------------------------------------------------- scripted parameter changes


README_CHANGE = "events:\n  - {day: 8, set: {mechanisms.mediation.weight: 0.5}}\n"


def test_readme_scripted_change_in_a_variant_is_accepted_and_applied(tmp_path):
    from sim.model.model import CrisisModel

    sc = load_scenario(variant(tmp_path, README_CHANGE))
    assert sc.events[-1].set == {"mechanisms.mediation.weight": 0.5}
    model = CrisisModel(sc, replicates=1)
    for _ in range(9):
        model.step()
    assert model.crisis.mechanisms.mediation.weight == 0.5
    base = load_scenario("kosovo_2021").mechanisms.mediation.weight
    assert sc.mechanisms.mediation.weight == base != 0.5  # the scenario itself keeps its value


def test_an_invalid_scripted_change_in_a_variant_names_the_event(cli, tmp_path):
    # Control for the test above: the same form with a value out of range is refused, by field.
    path = variant(tmp_path, "events:\n  - {day: 8, set: {mechanisms.mediation.weight: -1}}\n")
    line = one_error(cli, "validate", path)
    assert "mechanisms.mediation.weight" in line and "set by events.3" in line


FIXED_CHANGES = {
    "days": "days: 10",
    "name": "name: other",
    "seed": "seed: 7",
    "start_date": "start_date: 2021-10-01",
    "description": "description: changed",
    "events": "events.0.day: 5",
    "an actor's name": "actors.serbia.name: Somewhere",
    "an actor's day-0 postures": "actors.serbia.postures: [{posture: army_alert, target: kosovo}]",
    "the cast": "actors.albania: null",
    "resolution window": "mechanisms.outcome.resolution_window: 9",
}


@pytest.mark.parametrize("case", sorted(FIXED_CHANGES))
def test_a_scripted_change_of_what_is_fixed_at_the_start_is_refused(case, cli, tmp_path):
    path = variant(tmp_path, f"events:\n  - day: 4\n    set: {{{FIXED_CHANGES[case]}}}\n")
    line = one_error(cli, "validate", path)
    assert "events.3.set." in line and "cannot change during a run" in line


def test_a_scripted_change_of_a_stance_or_a_repertoire_is_accepted(cli, tmp_path):
    # Control: what the engine recompiles each day may change.
    body = (
        "events:\n  - day: 4\n    set: {actors.serbia.resolve: 0.2, affinities.serbia.kosovo: -0.5,"
        " actors.kosovo.exclude_moves: [deploy_police], mechanisms.disposition.verbal_cost: 1.0}\n"
    )
    code, out, err = cli("validate", variant(tmp_path, body))
    assert code == 0, err
    assert "ok" in out


def test_a_scripted_move_is_checked_against_the_changes_before_it(cli, tmp_path):
    # Kosovo's police is excluded on day 3; deploying it on day 5 is outside its repertoire then.
    body = (
        "events:\n  - {day: 3, set: {actors.kosovo.exclude_moves: [deploy_police]}}\n"
        "  - {day: 5, actor: kosovo, move: deploy_police, target: kosovo_serbs}\n"
    )
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert "events.4.move" in line and "repertoire" in line
    # Control: on day 2, before the change, the same move is fine.
    code, _, err = cli("validate", variant(tmp_path, body.replace("day: 5", "day: 2"), "w.yaml"))
    assert code == 0, err


# ------------------------------------------------------------- depth, size and kind of files


def test_deep_nesting_is_one_line(cli, tmp_path):
    path = write(tmp_path, "deep.yaml", "name: x\nz: " + "[" * 2000 + "]" * 2000 + "\n")
    line = one_error(cli, "validate", path)
    assert "nested more than" in line


def test_a_long_extends_chain_is_one_line(cli, tmp_path):
    write(tmp_path, "c0.yaml", BASE.read_text())
    for i in range(1, 1200):
        write(tmp_path, f"c{i}.yaml", f"name: c{i}\nextends: c{i - 1}.yaml\n")
    line = one_error(cli, "validate", tmp_path / "c1199.yaml")
    assert "extends:" in line and "more than 32 files" in line
    # Control: a chain within the cap loads.
    assert load_scenario(tmp_path / "c20.yaml").name == "c20"


def test_a_deeply_nested_mapping_from_python_is_a_scenario_error():
    doc: dict = {}
    node = doc
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ScenarioError):
        load_scenario({"name": "x", "z": doc})


@pytest.fixture
def no_hang():
    """Turn a hang into a failure (the bug this guards against blocked forever)."""

    def hung(signum, frame):
        raise AssertionError("blocked reading the file")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_not_waited_on(cli, tmp_path, no_hang):
    os.mkfifo(tmp_path / "fifo.yaml")
    assert "not a regular file" in one_error(cli, "validate", tmp_path / "fifo.yaml")
    line = one_error(cli, "validate", write(tmp_path, "x.yaml", "name: x\nextends: fifo.yaml\n"))
    assert "fifo.yaml: not a regular file" in line


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_not_read_until_memory_runs_out(cli, tmp_path, no_hang):
    assert "/dev/zero: not a regular file" in one_error(cli, "validate", "/dev/zero")
    line = one_error(cli, "validate", write(tmp_path, "x.yaml", "name: x\nextends: /dev/zero\n"))
    assert "not a regular file" in line


def test_a_file_past_the_size_cap_is_refused(cli, tmp_path):
    big = write(tmp_path, "big.yaml", BASE.read_text() + ("# padding\n" * 120_000))
    assert big.stat().st_size > 2**20
    assert "at most 1 MiB" in one_error(cli, "validate", big)
    # Control: the same scenario without the padding loads.
    assert load_scenario(write(tmp_path, "small.yaml", BASE.read_text())).name == "kosovo_2021"


SIZE_CASES = {
    "a million-character actor name": (
        "actors:\n  serbia:\n    name: " + "x" * 1_000_000 + "\n",
        "at most 80",
    ),
    "a long description": ("description: " + "y" * 5000 + "\n", "at most 4000"),
    "a long event label": (
        "events:\n  - {day: 1, actor: serbia, move: criticize, target: kosovo, label: " + "z" * 300 + "}\n",
        "at most 200",
    ),
    "too many events": (
        "events:\n" + "  - {day: 1, actor: serbia, move: criticize, target: kosovo}\n" * 1001,
        "at most 1000",
    ),
}


@pytest.mark.parametrize("case", sorted(SIZE_CASES))
def test_strings_and_lists_are_capped(case, cli, tmp_path):
    body, expected = SIZE_CASES[case]
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert expected in line and len(line) < 1000


SECRET_BASES = {
    "a mapping of secrets": "password: hunter2secret\nuser: bob\n",
    "an undefined alias": "*hunter2secret\n",
    "a bad escape": 'token: "hunter2secret\\q"\n',
    "text then bad YAML": "HUNTER2SECRET=abc\nmore: [\n",
    "a YAML tag": "!!python/name:hunter2secret\n",
}


@pytest.mark.parametrize("case", sorted(SECRET_BASES))
def test_extends_of_a_non_scenario_file_does_not_echo_it(case, cli, tmp_path):
    write(tmp_path, "secret.txt", SECRET_BASES[case])
    line = one_error(cli, "validate", write(tmp_path, "x.yaml", "name: x\nextends: secret.txt\n"))
    assert "secret.txt" in line and "hunter2" not in line.lower()


def test_extends_of_a_directory_is_one_line(cli, tmp_path):
    (tmp_path / "d").mkdir()
    line = one_error(cli, "validate", write(tmp_path, "x.yaml", "name: x\nextends: d\n"))
    assert "not a regular file" in line


# ------------------------------------------------------------- what `validate` passed and `run` failed on

REFUSED = {
    "end date past 9999": ("start_date: 9999-12-01\n", "start_date: a run of 60 days from 9999-12-01"),
    "unknown role": ("actors:\n  serbia:\n    role: warlord\n", "actors.serbia.role: unknown role 'warlord'"),
    "engine moves deleted": (
        "moves: {hold: null, incident: null}\n",
        "moves: the engine needs the moves hold, incident;",
    ),
    "move without a target": (
        "events:\n  - {day: 2, actor: serbia, move: raise_alert}\n",
        "events.3.target: 'raise_alert' needs a target",
    ),
    "duplicate key": (
        "days: 30\ndays: 40\n",
        "line 4, column 1: duplicate key 'days' (first given on line 3)",
    ),
    "duplicate nested key": (
        "actors:\n  serbia:\n    resolve: 0.5\n    resolve: 0.9\n",
        "duplicate key 'resolve'",
    ),
    "event past the horizon": (
        "events:\n  - {day: 60, actor: serbia, move: criticize, target: kosovo}\n",
        "events.3.day: day 60 is past the end of the run (days: 60; the last day is 59)",
    ),
    "minority making a state move": (
        "events:\n  - {day: 2, actor: kosovo_serbs, move: deploy_police, target: kosovo}\n",
        "events.3.move: 'deploy_police' is not in kosovo_serbs's repertoire",
    ),
    "self-targeted alert": (
        "events:\n  - {day: 2, actor: serbia, move: raise_alert, target: serbia}\n",
        "events.3.target: an actor cannot direct 'raise_alert' at itself",
    ),
    "a target for a move directed at nobody": (
        "events:\n  - {day: 2, actor: serbia, move: hold, target: kosovo}\n",
        "events.3.target: 'hold' is directed at nobody",
    ),
    "resolve: true": (
        "actors:\n  serbia:\n    resolve: true\n",
        "actors.serbia.resolve: Input should be a valid number",
    ),
    "a number as text": ("actors:\n  serbia:\n    resolve: '0.5'\n", "found '0.5'"),
    "days: 60.0": ("days: 60.0\n", "days: Input should be a valid integer"),
    "party: 1": ("roles:\n  state:\n    party: 1\n", "valid boolean"),
    "scripted set of days": ("events:\n  - {day: 4, set: {days: 10}}\n", "events.3.set.days: cannot change"),
    "scripted set of name": ("events:\n  - {day: 4, set: {name: w}}\n", "events.3.set.name: cannot change"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_validate_refuses_what_run_would_fail_on_or_ignore(case, cli, tmp_path):
    body, expected = REFUSED[case]
    path = variant(tmp_path, body)
    line = one_error(cli, "validate", path)
    assert line.startswith(f"sim: error: {path}: ") and expected in line, line
    # And `run` refuses it the same way, before writing anything.
    assert one_error(cli, "run", path, "--out", tmp_path / "out") == line
    assert not (tmp_path / "out").exists()


def test_the_refused_forms_have_accepted_controls(cli, tmp_path):
    body = (
        "start_date: 9999-10-01\n"  # 60 days still fit before the year 10000
        "actors:\n  serbia:\n    resolve: 1\n"  # a whole number is a number
        "events:\n"
        "  - {day: 59, actor: serbia, move: raise_alert, target: kosovo}\n"  # the last day
        "  - {day: 2, actor: kosovo_serbs, move: lift_blockade, target: kosovo}\n"  # in its repertoire
        "  - {day: 2, actor: serbia, move: hold}\n"
    )
    code, _, err = cli("validate", variant(tmp_path, body))
    assert code == 0, err


def test_a_bad_date_in_set_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_error(cli, "run", "kosovo_2021", "--set", "start_date=2021-02-30", "--out", tmp_path / "o")
    assert "start_date:" in line and "2021-02-30" in line
    assert list(tmp_path.iterdir()) == []


def test_set_values_are_typed_strictly_but_whole_numbers_are_numbers():
    with pytest.raises(ScenarioError, match=r"actors\.russia\.resolve: Input should be a valid number"):
        load_scenario("kosovo_2021", ["actors.russia.resolve=true"])
    sc = load_scenario("kosovo_2021", ["mechanisms.rationality=2", "start_date=2021-02-03"])
    assert sc.mechanisms.rationality == 2.0 and str(sc.start_date) == "2021-02-03"
    # NumPy numbers from Python callers are plain numbers.
    assert load_scenario("kosovo_2021", {"seed": np.int64(3), "days": np.int32(9)}).seed == 3


def test_a_shorter_run_than_the_file_stops_before_its_later_events(tmp_path):
    # `--days 2` on a scenario with day-3 events is a shorter run, not an error ...
    sc = load_scenario("kosovo_2021_early_police_withdrawal", {"days": 2})
    assert sc.days == 2 and max(e.day for e in sc.events) == 3
    # ... but a file whose own horizon misses its events is refused.
    with pytest.raises(ScenarioError, match=r"events\.3\.day: day 3 is past the end"):
        load_scenario(
            variant(tmp_path, "days: 2\nevents:\n  - {day: 3, set: {actors.serbia.resolve: 0.1}}\n")
        )


# ------------------------------------------------------------- every error at once


def test_every_error_in_a_file_is_reported_on_one_line(cli, tmp_path):
    body = "days: -1\nactors:\n  serbia:\n    resolve: 2\n    capability: high\n"
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert ": 3 errors: " in line
    for field in ("days: ", "actors.serbia.resolve: ", "actors.serbia.capability: "):
        assert field in line
    # Control: a single error is said without a count.
    line = one_error(cli, "validate", variant(tmp_path, "days: -1\n", "w.yaml"))
    assert "errors" not in line and "w.yaml: days: Input should be greater than or equal to 1" in line


def test_every_event_error_is_reported(cli, tmp_path):
    body = (
        "events:\n  - {day: 2, actor: serbia, move: raise_alert, target: serbia}\n"
        "  - {day: 99, actor: kosovo_serbs, move: deploy_police, target: kosovo}\n"
        "  - {day: 4, set: {days: 3}}\n"
    )
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert ": 4 errors: " in line
    for field in ("events.3.target", "events.4.day", "events.4.move", "events.5.set.days"):
        assert field in line


def test_a_misspelt_key_is_reported_once(cli, tmp_path):
    line = one_error(cli, "validate", variant(tmp_path, "actors:\n  eu:\n    resolv: 0.7\n"))
    assert "did you mean 'resolve'" in line and "required field is missing" not in line


# ------------------------------------------------------------- property: a scenario that runs, or an error

BASE_DOC = load_scenario(BASE).model_dump(mode="json")


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*prefix, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*prefix, str(i)))
    if prefix:
        yield prefix


LEAVES = sorted(set(_leaves(BASE_DOC)))
IDS = sorted({*BASE_DOC["actors"], *BASE_DOC["moves"], *BASE_DOC["postures"], *BASE_DOC["roles"]})
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**4), 10**4)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(IDS)
    | st.sampled_from(["2021-02-30", "9999-12-31", "0001-01-01", "", "self:army_alert", "target:contact"])
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(IDS) | st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def _at(path: tuple[str, ...]):
    node = BASE_DOC
    for key in path:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _plausible(path: tuple[str, ...]) -> st.SearchStrategy:
    """Values of the leaf's own kind, mostly in range, so that many mutants are valid."""
    value = _at(path)
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-1, 120)
    if isinstance(value, float):
        return st.floats(-0.5, 1.5) | st.floats(0, 12)
    if isinstance(value, str):
        return st.sampled_from(IDS) | st.just(value)
    if isinstance(value, list):
        return st.lists(st.sampled_from(IDS), max_size=4)
    return values


change = st.sampled_from(LEAVES).flatmap(lambda p: st.tuples(st.just(p), _plausible(p) | values))
actors = st.sampled_from(sorted(BASE_DOC["actors"]))
moves = st.builds(
    lambda day, actor, move, target: (
        {"day": day, "actor": actor, "move": move} | ({"target": target} if target else {})
    ),
    st.integers(-1, 65),
    actors,
    st.sampled_from(sorted(BASE_DOC["moves"])),
    st.none() | actors,
)
events = (
    moves
    | st.builds(
        lambda day, sets: {"day": day, "set": {".".join(p): v for p, v in sets}},
        st.integers(0, 65),
        st.lists(change, min_size=1, max_size=2),
    )
    | st.dictionaries(st.sampled_from(["day", "actor", "move", "target", "set", "label"]), values, max_size=4)
)


def _mutated(changes: list[tuple[tuple[str, ...], object]], extra: list[dict]) -> dict:
    """The base document with each leaf changed (a change under a replaced node is skipped)."""
    doc = copy.deepcopy(BASE_DOC)
    for path, value in changes:
        node = doc
        for key in path[:-1]:
            node = _child(node, key)
        last = path[-1]
        if isinstance(node, dict):
            node[last] = value
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
    doc["events"] = [*doc["events"], *extra] if isinstance(doc.get("events"), list) else extra
    return doc


def _child(node, key: str):
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(change, max_size=3),
    extra=st.lists(events, max_size=2),
)
def test_property_a_mutated_scenario_runs_or_is_one_clean_error(changes, extra):
    doc = _mutated(changes, extra)
    try:
        sc = load_scenario(doc)
    except ScenarioError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # What validates must run: one replicate through every scripted day. A mapping has no folder, so
    # the files it names (posterior, record) are looked for when it runs: a clean one-line error there.
    days = min(sc.days, max([e.day for e in sc.events] + [0]) + 2, 40)
    try:
        result = run(sc, runs=1, days=days, events="none")
    except UserError as exc:
        assert exc.field in ("posterior", "record.events") and "\n" not in str(exc)
        return
    assert len(result.outcomes) == 1
    result.summary()


def test_yaml_aliases_cannot_expand_without_bound(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Seven levels of ten aliases each are ten million values from a 1 kB file.
    body = (
        "events:\n  - day: 1\n    set:\n      mechanisms.rationality:\n        - &a0 [1,1,1,1,1,1,1,1,1,1]\n"
    )
    for i in range(1, 7):
        body += f"        - &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    assert "once YAML aliases are expanded" in one_error(cli, "validate", variant(tmp_path, body))
    bomb = "&a0 [1,1,1,1,1,1,1,1,1,1]"
    line = one_error(
        cli, "run", "kosovo_2021", "--set", f"description=[{bomb}, " + ", ".join(["*a0"] * 3) + "]"
    )
    assert "description: Input should be a valid string" in line  # control: a small alias is fine
    big = (
        "[&a0 [1,1,1,1,1,1,1,1,1,1], "
        + ", ".join(f"&a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7))
        + "]"
    )
    assert "--set: more than 200,000 values" in one_error(
        cli, "run", "kosovo_2021", "--set", f"description={big}"
    )


def test_a_folder_named_like_a_bundled_scenario_does_not_hide_it(cli, tmp_path, monkeypatch):
    """`sim validate kosovo_2021` where an earlier run left a folder called kosovo_2021."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kosovo_2021").mkdir()
    code, _, err = cli("validate", "kosovo_2021")
    assert code == 0, err
    # control: a folder that names no bundled scenario is still refused, in one line
    (tmp_path / "my_crisis").mkdir()
    assert "not a regular file" in one_error(cli, "validate", "my_crisis")


@pytest.mark.parametrize(
    "body, field",
    [("posterior: missing.csv\n", "posterior"), ("record:\n  events: missing.csv\n", "record.events")],
)
def test_a_scenario_file_naming_a_missing_file_does_not_validate(body, field, cli, tmp_path):
    """`sim validate` checks the files a scenario names, so what validates runs (control: the base
    scenario, whose posterior and record are bundled, validates)."""
    line = one_error(cli, "validate", variant(tmp_path, body))
    assert f"{field}: file 'missing.csv' not found" in line and str(tmp_path) in line
    code, out, _ = cli("validate", "kosovo_2021")
    assert code == 0 and "ok" in out
