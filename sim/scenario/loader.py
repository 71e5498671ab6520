"""Scenario files in: safe YAML, `extends:` chains, dotted overrides, validation.

Overrides are applied to the raw mapping and the result is validated again, so
an override can never bypass the schema. The package's move catalogue is the
bottom layer of every scenario, so a scenario changes a move by naming it.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import os
import stat
import sys
import types
import typing
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError, UserError, one_line
from sim.scenario.point_values import read_point_values
from sim.scenario.schema import ID_PATTERN, Scenario

# Installed wheels carry the scenarios inside the package; a source checkout has
# them at the top level of the repository.
_PACKAGE = Path(__file__).parents[1]
BUNDLED = next(
    (p for p in (_PACKAGE / "scenarios", _PACKAGE.parent / "scenarios") if p.is_dir()),
    _PACKAGE / "scenarios",
)
DEFAULT_SCENARIO = "kosovo_2021"


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def _hint(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def resolve_path(spec: str | Path) -> Path:
    """A path as given, or the name of a bundled scenario (with or without .yaml)."""
    path = Path(spec)
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    bundled = BUNDLED / f"{name}.yaml"
    bare = path.parent == Path(".") and bundled.exists()
    # a folder of the same name (an earlier run's output, say) does not hide a bundled scenario
    if path.exists() and not (bare and path.is_dir()):
        return path
    if bare:
        return bundled
    hint = difflib.get_close_matches(name, bundled_scenarios(), n=1)
    extra = f"; did you mean the bundled scenario '{hint[0]}'?" if hint else ""
    raise ScenarioError(f"file not found{extra}", source=str(spec))


# Limits on what a scenario file may be: it is hand-written data. Past them the
# input is a mistake or an attack (a FIFO blocks, /dev/zero never ends, 2,000
# nested brackets overflow the stack, a 50 MB file takes minutes).
MAX_FILE_BYTES = 1 << 20
MAX_NESTING = 64
MAX_EXTENDS = 32
MAX_VALUES = 200_000  # after aliases are expanded: `*a` repeated is a "billion laughs"


class _DataLoader(yaml.SafeLoader):
    """Safe loading, with dates left as text so the schema reports bad ones by field.

    A key given twice in one mapping is an error (YAML would keep the last one
    without a word), and nesting deeper than MAX_NESTING is refused before the
    recursive composer can overflow the stack.
    """

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_NESTING} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {one_line(repr(key))[:60]} (first given on line {first.line + 1}); "
                        "a key may appear once in a mapping",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


_DataLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_text(path: Path, shown: str) -> str:
    """A regular file's text, at most MAX_FILE_BYTES; never blocks on a FIFO or a device."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ScenarioError("file not found", source=shown) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or 'error'}", source=shown) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ScenarioError("not a regular file; expected a YAML scenario file", source=shown)
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > MAX_FILE_BYTES:
            raise ScenarioError(
                f"the file is {info.st_size / 2**20:.1f} MiB, expected a scenario of at most "
                f"{MAX_FILE_BYTES // 2**20} MiB",
                source=shown,
            )
        try:
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ScenarioError(f"cannot read the file: {exc.strerror or 'error'}", source=shown) from None
    if len(data) > MAX_FILE_BYTES:  # it grew while we read it
        raise ScenarioError(f"expected a scenario of at most {MAX_FILE_BYTES // 2**20} MiB", source=shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"not a text file (byte {exc.start} is not UTF-8); expected a YAML scenario file", source=shown
        ) from None


def _parse_yaml(text: str, shown: str, *, quiet: bool = False) -> Any:
    """Parse YAML data; errors name the line. `quiet` leaves the file's own words out
    (for a file reached through `extends:`, which may be anything on the disk)."""

    def where(exc: Exception) -> str:
        mark = getattr(exc, "problem_mark", None)
        return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""

    try:
        return yaml.load(text, Loader=_DataLoader)
    except yaml.constructor.ConstructorError as exc:
        problem = one_line(exc.problem or "")
        if problem.startswith("duplicate key") and not quiet:
            raise ScenarioError(f"{where(exc)}{problem}", source=shown) from None
        if problem.startswith("duplicate key"):
            raise ScenarioError(f"{where(exc)}duplicate key in a mapping", source=shown) from None
        detail = "" if quiet else f" ({problem})"
        raise ScenarioError(
            f"{where(exc)}YAML tag not allowed{detail}; scenario files are "
            "plain data, expected mappings, lists, strings and numbers",
            source=shown,
        ) from None
    except ValueError as exc:  # a scalar YAML resolves but cannot build
        detail = "" if quiet else f": {one_line(exc)}"
        raise ScenarioError(f"invalid value in YAML{detail}", source=shown) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not YAML"
        detail = "" if quiet else f": {one_line(problem)}"
        raise ScenarioError(f"{where(exc)}invalid YAML{detail}", source=shown) from None
    except RecursionError:  # belt and braces: the nesting cap should come first
        raise ScenarioError(f"nested more than {MAX_NESTING} levels deep", source=shown) from None


def _check_expanded_size(data: Any, shown: str) -> None:
    """Refuse data that expands (through YAML aliases) to more than MAX_VALUES values."""
    stack, count = [data], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ScenarioError(
                f"more than {MAX_VALUES:,} values once YAML aliases are expanded; expected a scenario",
                source=shown,
            )
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _read_yaml(path: Path, shown: str, *, base: bool = False) -> dict[str, Any]:
    """A scenario file's mapping. A file reached by `extends:` (`base`) is reported
    without quoting its content: it may be any file on the disk."""
    data = _parse_yaml(_read_text(path, shown), shown, quiet=base)
    _check_expanded_size(data, shown)
    if data is None:
        raise ScenarioError("the file is empty, expected a scenario mapping", source=shown)
    if not isinstance(data, dict):
        raise ScenarioError(
            f"expected a mapping of scenario fields at the top level, found a {type(data).__name__}",
            source=shown,
        )
    if base and not set(map(str, data)) <= set(Scenario.model_fields):
        # Name no key: the file may hold anything (a password, a token).
        raise ScenarioError(
            "not a scenario file: its top-level keys are not scenario fields "
            f"({', '.join(Scenario.model_fields)})",
            source=shown,
        )
    return data


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; `null` deletes a key; other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if value is None and key in out and isinstance(out[key], dict):
            del out[key]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@cache
def _catalogue() -> dict[str, Any]:
    """The bundled catalogue of moves and defaults, parsed once per process (callers merge a deep copy)."""
    with resources.files("sim.data").joinpath("catalogue.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _inherited_ids(events: list) -> dict[str, int]:
    """Ids of the inherited events (only well-formed ones: a base file's other text is never echoed)."""
    out: dict[str, int] = {}
    for k, event in enumerate(events):
        eid = event.get("id") if isinstance(event, dict) else None
        if isinstance(eid, str) and ID_PATTERN.fullmatch(eid):
            out.setdefault(eid, k)
    return out


def merge_events(inherited: Any, data: Mapping[str, Any], shown: str) -> Any:
    """A variant's scripted events over its base's: the base's, less those named under `drop_events:`,
    with those the variant gives again with `replace: true` in their place, then the variant's own.

    Errors name the variant's file and its own fields (`drop_events.0`, `events.2.id`).
    """
    base = list(inherited) if isinstance(inherited, list) else []
    child = data.get("events")
    child = [] if child is None else child
    if not isinstance(child, list):
        return child  # the schema reports the wrong type
    drop = data.get("drop_events")
    drop = [] if drop is None else drop
    if not isinstance(drop, list) or not all(isinstance(x, str) for x in drop):
        raise ScenarioError(
            f"expected a list of ids of inherited events, found {one_line(repr(drop))[:80]}",
            source=shown,
            field="drop_events",
        )
    ids = _inherited_ids(base)

    def unknown(value: str, field: str) -> ScenarioError:
        known = sorted(ids)
        expected = (
            f"expected one of: {', '.join(known)}{_hint(value, known)}"
            if known
            else "the base scenario's events have no ids"
        )
        shown_value = value if ID_PATTERN.fullmatch(value) else one_line(repr(value))[:60]
        return ScenarioError(
            f"no inherited event has the id '{shown_value}'; {expected}", source=shown, field=field
        )

    for n, eid in enumerate(drop):
        if eid not in ids:
            raise unknown(eid, f"drop_events.{n}")
    replaced: dict[str, tuple[int, dict]] = {}
    appended: list[Any] = []
    for n, event in enumerate(child):
        if not isinstance(event, dict):
            appended.append(event)  # the schema reports it
            continue
        eid = event.get("id")
        if event.get("replace") is True:
            if eid is None:
                raise ScenarioError(
                    "'replace: true' needs the 'id' of the inherited event it replaces",
                    source=shown,
                    field=f"events.{n}",
                )
            if not isinstance(eid, str) or eid not in ids:
                raise unknown(str(eid), f"events.{n}.id")
            if eid in drop:
                raise ScenarioError(
                    f"'{eid}' is both dropped (drop_events) and replaced; expected one or the other",
                    source=shown,
                    field=f"events.{n}.id",
                )
            if eid in replaced:
                raise ScenarioError(
                    f"'{eid}' is already replaced by events.{replaced[eid][0]}; expected one replacement",
                    source=shown,
                    field=f"events.{n}.id",
                )
            replaced[eid] = (n, {k: v for k, v in event.items() if k != "replace"})
            continue
        if event.get("replace") is False:
            event = {k: v for k, v in event.items() if k != "replace"}
        if isinstance(eid, str) and eid in ids:
            raise ScenarioError(
                f"'{eid}' is the id of an inherited event; add 'replace: true' to replace that event, "
                "list the id under drop_events to leave it out, or choose another id",
                source=shown,
                field=f"events.{n}.id",
            )
        appended.append(event)
    out = []
    for event in base:
        eid = event.get("id") if isinstance(event, dict) else None
        if isinstance(eid, str) and eid in drop:
            continue
        out.append(replaced[eid][1] if isinstance(eid, str) and eid in replaced else event)
    return out + appended


def read_raw(path: Path, *, shown: str | None = None) -> dict:
    """The raw mapping of a file with its `extends:` chain merged (see `merge_events` for the events).

    The chain is followed in a loop, at most MAX_EXTENDS files deep, and merged
    from the bottom up.
    """
    shown = shown or str(path)
    layers: list[tuple[dict, str]] = []
    seen: set[Path] = set()
    current, current_shown = path, shown
    while True:
        data = _read_yaml(current, current_shown, base=bool(layers))
        layers.append((data, current_shown))
        seen.add(current.resolve())
        parent = data.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str) or not parent.strip() or "\0" in parent:
            raise ScenarioError(
                f"expected a file path, found {one_line(repr(parent))[:80]}",
                source=current_shown,
                field="extends",
            )
        if len(layers) >= MAX_EXTENDS:
            raise ScenarioError(
                f"a chain of more than {MAX_EXTENDS} files extending one another",
                source=shown,
                field="extends",
            )
        base_path = (current.parent / parent).resolve()
        if not base_path.exists() and Path(parent).name == parent and (BUNDLED / parent).is_file():
            base_path = (BUNDLED / parent).resolve()  # a bundled scenario by its file name
        if base_path in seen:
            raise ScenarioError("extends itself (a cycle of extends)", source=current_shown, field="extends")
        if not base_path.exists():
            raise ScenarioError(
                f"base scenario '{parent}' not found next to this file", source=current_shown, field="extends"
            )
        current, current_shown = base_path, str(base_path)
    merged = layers.pop()[0]
    while layers:
        data, data_shown = layers.pop()
        events = merge_events(merged.get("events"), data, data_shown)
        merged = deep_merge(merged, data)
        merged.pop("drop_events", None)  # applied: what the next file inherits has no such events
        merged["events"] = events
    return merged


# ---------------------------------------------------------------- overrides


def parse_assignment(text: str, option: str = "--set") -> tuple[str, Any]:
    """`a.b.c=value` -> (path, YAML-parsed value); dates stay text, as in a file. Errors name `option`."""
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ScenarioError(f"expected PATH=VALUE, found {one_line(repr(text))[:80]}", source=option)
    try:
        parsed = yaml.load(value, Loader=_DataLoader) if value.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError):
        parsed = value  # not YAML: the schema reports the text as the wrong type
    _check_expanded_size(parsed, option)
    return path, parsed


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers (the schema's types are strict).

    Without numpy loaded there are no NumPy scalars: `sim validate` and `sim show` need not import it.
    """
    np = sys.modules.get("numpy")
    return value.item() if np is not None and isinstance(value, np.generic) else value


def normalize_overrides(overrides: Mapping[str, Any] | list[str] | None) -> dict[str, Any]:
    """Overrides as a dict of dotted path -> value, from a mapping or `PATH=VALUE` strings."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return {str(k): _plain(v) for k, v in overrides.items()}
    if isinstance(overrides, str):
        overrides = [overrides]
    return dict(parse_assignment(str(text)) for text in overrides)


def set_path(data: dict, path: str, value: Any, *, shown: str, origin: str) -> None:
    """Assign a dotted path in the raw mapping; every key but the last must exist."""
    keys = path.split(".")

    def fail(message: str) -> ScenarioError:
        return ScenarioError(f"{message} ({origin})", source=shown, field=path)

    def list_index(node: list, key: str, where: str) -> int:
        if not key.isdigit() or int(key) >= len(node):
            raise fail(f"expected a list index below {len(node)} at {where}, found '{key}'")
        return int(key)

    node: Any = data
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the top level"
        last = depth == len(keys) - 1
        if isinstance(node, list):
            index = list_index(node, key, where)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif not isinstance(node, dict):
            raise fail(f"cannot set a key inside a {type(node).__name__} at {where}")
        elif last:
            node[key] = value
        elif key not in node:
            hint = difflib.get_close_matches(key, sorted(node), n=1)
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            raise fail(f"unknown key '{key}' at {where}{extra}")
        else:
            node = node[key]


# ---------------------------------------------------------------- validation


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated so a loc can be followed through the models."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def _expected_keys(loc: tuple) -> list[str]:
    """Field names of the model that holds the key at `loc` (for suggestions)."""
    node: Any = Scenario
    for part in loc[:-1]:
        node = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return []
            node = field.annotation
        elif typing.get_origin(node) in (dict, list):
            node = typing.get_args(node)[-1]
        else:
            return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


# At most this many errors are spelt out in the one-line message.
MAX_LISTED = 20
Issue = tuple[str | None, str]  # (dotted field or None, what is wrong)


# Error types whose message already says what was found (or where a "found dict" says nothing).
QUOTES_ITS_INPUT = frozenset(
    (
        "unknown_ref",
        "day_and_date",
        "day_or_date",
        "date_before_start",
        "date_too_late",
        "date_not_before_start",
        "day_not_before_start",
        "date_too_early",
        "unplaced_date",
        "replace_without_base",
        "drop_without_base",
    )
)


def _issues(exc: ValidationError) -> list[Issue]:
    """Pydantic's errors as (field, message) pairs, in the file's order."""
    errors = exc.errors(include_url=False)
    # A misspelt key also makes the real one "missing": say only the first.
    hinted = set()
    issues: list[tuple[tuple, Issue]] = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] != "extra_forbidden":
            continue
        key = str(loc[-1]) if loc else ""
        hint = difflib.get_close_matches(key, _expected_keys(loc), n=1)
        if hint:
            hinted.add((*loc[:-1], hint[0]))
    for err in errors:
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or None
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            options = _expected_keys(loc)
            hint = difflib.get_close_matches(key, options, n=1)
            msg = "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else "")
            if not hint and options:
                msg += f"; expected one of: {', '.join(options)}"
        elif err["type"] == "missing":
            if loc in hinted:
                continue
            msg = "required field is missing"
        else:
            msg = err["msg"]
            if err["type"] not in QUOTES_ITS_INPUT and "input" in err:
                found = err["input"]
                text = repr(found) if not isinstance(found, (dict, list)) else type(found).__name__
                msg += f", found {one_line(text)[:80]}"
        issues.append((loc, (field, msg)))
    return [issue for _, issue in issues]


def scenario_error(issues: list[Issue], shown: str, note: str = "") -> ScenarioError:
    """One line for every issue: `FILE: field: what` or `FILE: 3 errors: a: ...; b: ...`."""
    suffix = f" ({note})" if note else ""
    if len(issues) == 1:
        field, msg = issues[0]
        return ScenarioError(one_line(msg + suffix), source=shown, field=field)
    listed = "; ".join(f"{field}: {msg}" if field else msg for field, msg in issues[:MAX_LISTED])
    more = f"; and {len(issues) - MAX_LISTED} more" if len(issues) > MAX_LISTED else ""
    return ScenarioError(one_line(f"{len(issues)} errors{suffix}: {listed}{more}"), source=shown)


def format_validation_error(exc: ValidationError, shown: str, note: str = "") -> ScenarioError:
    """Every pydantic error as one line (see `scenario_error`)."""
    return scenario_error(_issues(exc), shown, note)


def _context(raw: dict) -> dict[str, Any]:
    # Every kind of id is known, even when a file deletes them all (`roles: null`),
    # so a reference to a missing one is an error here and not a crash in the run.
    ctx: dict[str, Any] = {}
    for name in ("actors", "moves", "postures", "roles", "issues"):
        value = raw.get(name)
        if value is None:
            ctx[name] = set()
        elif isinstance(value, dict):
            ctx[name] = {str(k) for k in value}
    # Scripted events placed by `date:` are counted from the start date (when it is a date at all:
    # otherwise its own field reports it).
    start = raw.get("start_date")
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start.strip())
        except ValueError:
            start = None
    ctx["start_date"] = start if isinstance(start, dt.date) and not isinstance(start, dt.datetime) else None
    return ctx


# Moves the engine itself uses: doing nothing, an accident and an armed clash.
ENGINE_MOVES = ("hold", "incident", "armed_clash")


def _repertoire(scenario: Scenario, actor_id: str) -> set[str]:
    actor = scenario.actors[actor_id]
    role = scenario.roles.get(actor.role)
    moves = set(role.moves if role else []) | set(actor.moves)
    return (moves - set(actor.exclude_moves)) | {"hold"}


def _move_issues(scenario: Scenario, n: int, event: Any, part: str = "events") -> list[Issue]:
    """What the run would refuse, ignore or fail on in a scripted move (or a move of the history)."""
    where = f"{part}.{n}"
    move = scenario.moves.get(event.move)
    if move is None:
        return [(f"{where}.move", f"unknown move '{event.move}' (removed by an earlier scripted change)")]
    if event.actor not in scenario.actors:
        return [(f"{where}.actor", f"unknown actor '{event.actor}'")]
    issues: list[Issue] = []
    if event.move not in _repertoire(scenario, event.actor):
        role = scenario.actors[event.actor].role
        issues.append(
            (
                f"{where}.move",
                f"'{event.move}' is not in {event.actor}'s repertoire (role {role}); "
                f"list it under actors.{event.actor}.moves to allow it",
            )
        )
    if move.targets == "self":
        if event.target not in (None, event.actor):
            issues.append((f"{where}.target", f"'{event.move}' is directed at nobody; leave 'target' out"))
    elif event.target is None:
        issues.append((f"{where}.target", f"'{event.move}' needs a target (an actor it is directed at)"))
    elif event.target == event.actor:
        issues.append((f"{where}.target", f"an actor cannot direct '{event.move}' at itself"))
    return issues


def _id_issues(scenario: Scenario) -> list[Issue]:
    """Ids of scripted events and history are unique: a variant names the event it drops or replaces."""
    issues: list[Issue] = []
    first: dict[str, str] = {}
    listed = [("events", n, e) for n, e in enumerate(scenario.events)]
    listed += [("history", n, e) for n, e in enumerate(scenario.history)]
    for part, n, event in listed:
        if event.id is None:
            continue
        if event.id in first:
            issues.append(
                (f"{part}.{n}.id", f"'{event.id}' is already the id of {first[event.id]}; ids are unique")
            )
        first.setdefault(event.id, f"{part}.{n}")
    return issues


def _history_issues(scenario: Scenario) -> list[Issue]:
    """The history's moves, checked like scripted moves, and replayed for their posture conditions.

    The replay follows the engines' rule (docs/model.md 3, 6): each day's moves are checked against
    the postures standing at the start of that day, then postures are set and cleared in the order of
    the moves, then every held posture ages a day and lapses after its `max_days`. A move whose
    conditions fail would not happen, and the past is not random: that is an error here.
    """
    issues: list[Issue] = []
    for n, event in enumerate(scenario.history):
        issues += _move_issues(scenario, n, event, "history")
    if issues or not scenario.history:
        return issues
    postures = scenario.postures
    held: dict[tuple[str, str], str] = {}  # (actor, posture) -> target
    ages: dict[tuple[str, str], int] = {}
    for actor_id, actor in scenario.actors.items():
        for p in actor.postures:
            held[(actor_id, p.posture)] = p.target
            ages[(actor_id, p.posture)] = 0

    def stands(scope: str, posture: str, actor: str, target: str) -> bool:
        who = {"self": [actor], "target": [target], "any": list(scenario.actors)}[scope]
        if posture == "contact":
            return any(postures[k].contact for a, k in held if a in who)
        return any((a, posture) in held for a in who)

    by_day: dict[int, list[int]] = {}
    for n, event in enumerate(scenario.history):
        by_day.setdefault(event.day, []).append(n)
    for day in range(min(by_day), 0):
        made = []
        for n in by_day.get(day, []):
            event = scenario.history[n]
            move = scenario.moves[event.move]
            actor, target = event.actor, event.target or event.actor
            why = None
            if move.sets is not None and (actor, move.sets) in held:
                why = f"the posture it sets ({move.sets}) already stands"
            elif move.clears is not None and held.get((actor, move.clears)) != target:
                why = f"the posture it ends ({move.clears}) is not held towards {target}"
            else:
                for req in move.requires:
                    scope, _, posture = req.partition(":")
                    if not stands(scope, posture, actor, target):
                        why = f"it requires {req}, which is not in place"
                        break
                for req in move.forbids:
                    scope, _, posture = req.partition(":")
                    if why is None and stands(scope, posture, actor, target):
                        why = f"{req} rules it out, and it stands"
            if why is not None:
                issues.append((f"history.{n}.move", f"'{event.move}' cannot happen on day {day}: {why}"))
            else:
                made.append((actor, target, move))
        for actor, target, move in made:
            if move.settles:
                for key in [key for key in held if postures[key[1]].talks]:
                    del held[key]
            if move.sets is not None:
                held[(actor, move.sets)] = target
                ages[(actor, move.sets)] = 0
            if move.clears is not None:
                held.pop((actor, move.clears), None)
        for key in list(held):
            ages[key] = ages.get(key, 0) + 1
            limit = postures[key[1]].max_days
            if limit is not None and ages[key] >= limit:
                del held[key]
    return issues


def _scenario_issues(scenario: Scenario) -> list[Issue]:
    """Checks across fields that hold in every state of a run (also after a scripted change)."""
    issues: list[Issue] = []
    missing = [m for m in ENGINE_MOVES if m not in scenario.moves]
    if missing:
        issues.append(("moves", f"the engine needs the moves {', '.join(missing)}; they cannot be removed"))
    try:
        scenario.start_date + dt.timedelta(days=scenario.days)
    except OverflowError:
        issues.append(
            ("start_date", f"a run of {scenario.days} days from {scenario.start_date} ends after 9999")
        )
    return issues


# What a scripted change cannot touch: fixed when the run starts (the calendar,
# the cast, the catalogue's ids, day-0 postures, names shown in the outputs and
# the resolution window, which is applied to the finished runs).
_FIXED_TOP = ("name", "description", "extends", "start_date", "days", "seed", "events", "history")
_FIXED_ACTOR = ("name", "code", "postures")


def _fixed(raw: dict) -> dict[str, Any]:
    """The parts of a (defaulted, dumped) scenario that cannot change during a run."""

    def part(node: Any, key: str) -> Any:
        return node.get(key) if isinstance(node, dict) else None

    def keys(node: Any) -> list:
        return list(node) if isinstance(node, dict) else [node]

    def items(node: Any) -> list:
        return list(node.items()) if isinstance(node, dict) else []

    out: dict[str, Any] = {key: raw.get(key) for key in _FIXED_TOP}
    for kind in ("actors", "moves", "postures", "roles"):
        out[kind] = keys(raw.get(kind))
    for a, actor in items(part(raw, "actors")):
        out.update({f"actors.{a}.{k}": part(actor, k) for k in _FIXED_ACTOR})
    for kind in ("moves", "postures"):
        for key, item in items(part(raw, kind)):
            out[f"{kind}.{key}.label"] = part(item, "label")
    out["mechanisms.outcome.resolution_window"] = part(
        part(part(raw, "mechanisms"), "outcome"), "resolution_window"
    )
    return out


_FIXED_PATTERNS = [
    *((key,) for key in _FIXED_TOP),
    *(("actors", "*", key) for key in _FIXED_ACTOR),
    ("moves", "*", "label"),
    ("postures", "*", "label"),
    ("mechanisms", "outcome", "resolution_window"),
]


def _fixed_path(path: str) -> str | None:
    """The fixed field a dotted path names or lies under (even to set it to its own value)."""
    keys = path.split(".")
    for pattern in _FIXED_PATTERNS:
        if len(keys) >= len(pattern) and all(p in ("*", k) for p, k in zip(pattern, keys, strict=False)):
            return ".".join(keys[: len(pattern)])
    return None


def _event_issues(scenario: Scenario, *, horizon: bool) -> list[Issue]:
    """Scripted events, in the order the run meets them: parameter changes first on their
    day, then moves, each checked against the scenario as changed so far."""
    issues: list[Issue] = []
    if horizon:
        last = scenario.days - 1
        for n, event in enumerate(scenario.events):
            if event.day > last and event.date is not None:
                issues.append(
                    (
                        f"events.{n}.date",
                        f"{event.date} is after the run's last day, {scenario.end_date} "
                        f"(start_date {scenario.start_date}, days: {scenario.days})",
                    )
                )
            elif event.day > last:
                issues.append(
                    (
                        f"events.{n}.day",
                        f"day {event.day} is past the end of the run (days: {scenario.days}; "
                        f"the last day is {last})",
                    )
                )
    order = sorted(
        range(len(scenario.events)), key=lambda n: (scenario.events[n].day, scenario.events[n].set is None)
    )
    current = scenario
    raw: dict | None = None
    for n in order:
        event = scenario.events[n]
        if event.set is None:
            issues += _move_issues(current, n, event)
            continue
        raw = raw if raw is not None else current.model_dump(mode="json")
        before = _fixed(raw)
        trial = raw
        failed = False
        for path, value in event.set.items():
            field = f"events.{n}.set.{path}"
            attempt = copy.deepcopy(trial)
            try:
                set_path(attempt, str(path), value, shown=scenario.name, origin="scripted set")
            except ScenarioError as exc:
                issues.append((field, exc.detail))
                failed = True
                continue
            after = _fixed(attempt)
            changed = _fixed_path(str(path)) or next((k for k in before if before[k] != after[k]), None)
            if changed is not None:
                issues.append((field, f"cannot change during a run ({changed} is fixed when the run starts)"))
                failed = True
                continue
            trial = attempt
        if failed:
            continue
        try:
            changed_scenario = Scenario.model_validate(trial, context=_context(trial))
        except ValidationError as exc:
            note = f"set by events.{n}"
            issues += [(field, f"{msg} ({note})") for field, msg in _issues(exc)]
            continue
        later = _scenario_issues(changed_scenario)
        if later:
            issues += [(field, f"{msg} (set by events.{n})") for field, msg in later]
            continue
        current, raw = changed_scenario, trial
    return issues


def validate(raw: dict, *, shown: str, note: str = "", horizon: bool = True, events: bool = True) -> Scenario:
    """Validate a fully merged raw mapping into a Scenario, or raise a ScenarioError listing
    every error. `horizon`: scripted events must fall within the run's days; `events`:
    check the scripted events as the run will meet them (off for a change mid-run)."""
    try:
        scenario = Scenario.model_validate(raw, context=_context(raw))
    except ValidationError as exc:
        raise format_validation_error(exc, shown, note) from None
    issues = _scenario_issues(scenario)
    if not issues and events:
        issues = _id_issues(scenario) + _history_issues(scenario) + _event_issues(scenario, horizon=horizon)
    if issues:
        raise scenario_error(issues, shown, note)
    return scenario


def resolve_raw(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> tuple[dict, str]:
    """The merged raw mapping (catalogue, extends chain, overrides) and its display name."""
    if isinstance(source, Mapping):
        shown = "<scenario>"
        raw = copy.deepcopy(dict(source))
        folder = None
    else:
        path = resolve_path(source)
        shown = str(source)
        raw = read_raw(path, shown=shown)
        folder = path.resolve().parent
    _take_point_values(raw, folder)
    raw = deep_merge(_catalogue(), raw)
    changes = normalize_overrides(overrides)
    if changes:
        # Overrides apply to the effective scenario, defaults included, so any
        # parameter can be set whether or not the file spells it out.
        raw = validate(raw, shown=shown).model_dump(mode="json")
    for path, value in changes.items():
        set_path(raw, str(path), value, shown=shown, origin="--set")
    return raw, shown


def _take_point_values(raw: dict, folder: Path | None) -> None:
    """A scenario that names a posterior takes its point values wherever the file (or what it extends)
    sets no value, so that its replicates draw from it; a value the file sets is the modeller's and
    stays in every replicate (`sim.ensemble.posterior.draw_posterior`)."""
    name = raw.get("posterior")
    if not isinstance(name, str) or not name:
        return
    found = find_named(name, folder)
    if found is None:
        return  # the load-time check names the missing file
    for dotted, value in read_point_values(found).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            child = node.setdefault(key, {}) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                break  # a malformed block: validation says what is wrong with it
            node = child
        else:
            node.setdefault(leaf, value)


def load_scenario(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> Scenario:
    """Load and validate a scenario from a path, a bundled name or a mapping.

    `overrides` are dotted paths (`{"actors.russia.resolve": 0.9}` or
    `["actors.russia.resolve=0.9"]`) applied before validation. Everything a
    run would refuse or ignore is refused here, every error in one message.
    """
    try:
        raw, shown = resolve_raw(source, overrides)
        note = "after --set" if overrides else ""
        # A shorter run than the file's (`--days 5`) simply stops before its later events;
        # the file itself was checked against its own horizon before the override.
        horizon = "days" not in normalize_overrides(overrides)
        scenario = validate(raw, shown=shown, note=note, horizon=horizon)
    except RecursionError:  # a mapping passed in from Python, nested past any file's limit
        raise ScenarioError(f"nested more than {MAX_NESTING} levels deep", source="<scenario>") from None
    if not isinstance(source, Mapping):
        scenario._folder = str(resolve_path(source).resolve().parent)  # where its record is found
        _check_named_files(scenario, shown)  # a mapping has no folder yet: its files are found at run time
    return scenario


def with_overrides(scenario: Scenario, overrides: Mapping[str, Any] | list[str]) -> Scenario:
    """A loaded scenario revalidated with overrides; its posterior and record are still found next to
    the file it was read from (a private attribute a dump and reload would drop)."""
    changed = load_scenario(scenario.model_dump(mode="json"), overrides)
    changed._folder = scenario._folder
    return changed


def _check_named_files(scenario: Scenario, shown: str) -> None:
    """The posterior and record files a scenario file names must be there: what validates must run."""
    named = {
        "posterior": scenario.posterior,
        "record.events": scenario.record.events if scenario.record else None,
    }
    for field, name in named.items():
        if name:
            try:
                locate(scenario, name, field=field)
            except UserError as exc:
                raise ScenarioError(exc.detail, source=shown, field=field) from None


def apply_changes(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The scenario with a scripted event's parameter changes applied (validated)."""
    raw = scenario.model_dump(mode="json")
    for path, value in changes.items():
        set_path(raw, path, value, shown=scenario.name, origin="scripted set")
    changed = validate(raw, shown=scenario.name, events=False)
    changed._folder = scenario._folder
    return changed


def locate(scenario: Scenario, name: str | None = None, field: str = "record.events") -> Path:
    """The file a scenario names (its record's by default), found as `find_named` finds it, or a
    one-line error naming the field."""
    if name is None:
        if scenario.record is None:
            raise UserError("the scenario names no record (add a `record:` section)", source=scenario.name)
        name = scenario.record.events
    found = find_named(name, scenario._folder)
    if found is not None:
        return found
    raise UserError(
        f"file '{name}' not found next to the scenario or among the bundled scenarios",
        source=scenario.name,
        field=field,
    )


def find_named(name: str, folder: str | Path | None) -> Path | None:
    """A file a scenario names: as given if absolute, else next to the scenario file, else bundled."""
    given = Path(name)
    folders = [Path(folder)] if folder else []
    candidates = [given] if given.is_absolute() else [f / given for f in (*folders, BUNDLED)]
    return next((path for path in candidates if path.is_file()), None)
