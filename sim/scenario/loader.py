"""Scenario files in: safe YAML, `extends:` chains, dotted overrides, validation.

Overrides are applied to the raw mapping and the result is validated again, so
an override can never bypass the schema. The package's move catalogue is the
bottom layer of every scenario, so a scenario changes a move by naming it.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.errors import ScenarioError, one_line
from sim.scenario.schema import Scenario

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


def resolve_path(spec: str | Path) -> Path:
    """A path as given, or the name of a bundled scenario (with or without .yaml)."""
    path = Path(spec)
    if path.exists():
        return path
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    bundled = BUNDLED / f"{name}.yaml"
    if path.parent == Path(".") and bundled.exists():
        return bundled
    hint = difflib.get_close_matches(name, bundled_scenarios(), n=1)
    extra = f"; did you mean the bundled scenario '{hint[0]}'?" if hint else ""
    raise ScenarioError(f"file not found{extra}", source=str(spec))


class _DataLoader(yaml.SafeLoader):
    """Safe loading, with dates left as text so the schema reports bad ones by field."""


_DataLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path, shown: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("file not found", source=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read the file: {one_line(exc)}", source=shown) from None
    try:
        data = yaml.load(text, Loader=_DataLoader)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ScenarioError(
            f"{where}YAML tag not allowed ({one_line(exc.problem)}); scenario files are "
            "plain data, expected mappings, lists, strings and numbers",
            source=shown,
        ) from None
    except ValueError as exc:  # a scalar YAML resolves but cannot build, e.g. 2021-13-40
        raise ScenarioError(f"invalid value in YAML: {one_line(exc)}", source=shown) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{where}invalid YAML: {one_line(problem)}", source=shown) from None
    if data is None:
        raise ScenarioError("the file is empty, expected a scenario mapping", source=shown)
    if not isinstance(data, dict):
        raise ScenarioError(
            f"expected a mapping of scenario fields at the top level, found a {type(data).__name__}",
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


def _catalogue() -> dict[str, Any]:
    with resources.files("sim.data").joinpath("catalogue.yaml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_raw(path: Path, *, shown: str | None = None, _chain: tuple[Path, ...] = ()) -> dict:
    """The raw mapping of a file with its `extends:` chain merged (events appended)."""
    shown = shown or str(path)
    data = _read_yaml(path, shown)
    parent = data.get("extends")
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"expected a file path, found {parent!r}", source=shown, field="extends")
    base_path = (path.parent / parent).resolve()
    if not base_path.exists() and Path(parent).name == parent and (BUNDLED / parent).is_file():
        base_path = (BUNDLED / parent).resolve()  # a bundled scenario by its file name
    if base_path in _chain or base_path == path.resolve():
        raise ScenarioError("extends itself (a cycle of extends)", source=shown, field="extends")
    if not base_path.exists():
        raise ScenarioError(
            f"base scenario '{parent}' not found next to this file", source=shown, field="extends"
        )
    base = read_raw(base_path, _chain=(*_chain, path.resolve()))
    events = list(base.get("events") or [])
    child_events = data.get("events") or []
    merged = deep_merge(base, data)
    if isinstance(child_events, list):
        merged["events"] = events + list(child_events)
    return merged


# ---------------------------------------------------------------- overrides


def parse_assignment(text: str) -> tuple[str, Any]:
    """`a.b.c=value` -> (path, YAML-parsed value)."""
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ScenarioError(f"expected PATH=VALUE, found '{text}'", source="--set")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return path, parsed


def normalize_overrides(overrides: Mapping[str, Any] | list[str] | None) -> dict[str, Any]:
    """Overrides as a dict of dotted path -> value, from a mapping or `PATH=VALUE` strings."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    return dict(parse_assignment(text) for text in overrides)


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


def format_validation_error(exc: ValidationError, shown: str, note: str = "") -> ScenarioError:
    """The first error as `FILE: path.to.field: expected ..., found ...` (one line)."""
    # An unknown key is usually a misspelt one: report it (with a suggestion)
    # before the "missing field" error the misspelling also causes.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or None
    if err["type"] == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        hint = difflib.get_close_matches(key, _expected_keys(loc), n=1)
        msg = "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else "")
        options = _expected_keys(loc)
        if not hint and options:
            msg += f"; expected one of: {', '.join(options)}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    else:
        msg = err["msg"]
        if err["type"] not in ("unknown_ref",) and "input" in err:
            found = err["input"]
            text = repr(found) if not isinstance(found, (dict, list)) else type(found).__name__
            msg += f", found {one_line(text)[:80]}"
    if note:
        msg += f" ({note})"
    if len(errors) > 1:
        msg += f" [and {len(errors) - 1} more]"
    return ScenarioError(one_line(msg), source=shown, field=field)


def _context(raw: dict) -> dict[str, set[str]]:
    def keys(name: str) -> set[str] | None:
        value = raw.get(name)
        return set(value) if isinstance(value, dict) else None

    ctx = {k: keys(k) for k in ("actors", "moves", "postures", "roles")}
    return {k: v for k, v in ctx.items() if v is not None}


def validate(raw: dict, *, shown: str, note: str = "") -> Scenario:
    """Validate a fully merged raw mapping into a Scenario, or raise a ScenarioError."""
    try:
        return Scenario.model_validate(raw, context=_context(raw))
    except ValidationError as exc:
        raise format_validation_error(exc, shown, note) from None


def _check_event_sets(raw: dict, shown: str) -> None:
    # A parameter change must leave a valid scenario: check each one now, not on its day.
    for n, event in enumerate(raw.get("events") or []):
        changes = event.get("set") if isinstance(event, dict) else None
        if not isinstance(changes, dict):
            continue
        trial = copy.deepcopy(raw)
        for path, value in changes.items():
            try:
                set_path(trial, str(path), value, shown=shown, origin="scripted set")
            except ScenarioError as exc:
                raise ScenarioError(exc.detail, source=shown, field=f"events.{n}.set.{path}") from None
        validate(trial, shown=shown, note=f"set by events.{n}")


def resolve_raw(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> tuple[dict, str]:
    """The merged raw mapping (catalogue, extends chain, overrides) and its display name."""
    if isinstance(source, Mapping):
        shown = "<scenario>"
        raw = copy.deepcopy(dict(source))
    else:
        path = resolve_path(source)
        shown = str(source)
        raw = read_raw(path, shown=shown)
    raw = deep_merge(_catalogue(), raw)
    changes = normalize_overrides(overrides)
    if changes:
        # Overrides apply to the effective scenario, defaults included, so any
        # parameter can be set whether or not the file spells it out.
        raw = validate(raw, shown=shown).model_dump(mode="json")
    for path, value in changes.items():
        set_path(raw, str(path), value, shown=shown, origin="--set")
    return raw, shown


def load_scenario(
    source: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | list[str] | None = None,
) -> Scenario:
    """Load and validate a scenario from a path, a bundled name or a mapping.

    `overrides` are dotted paths (`{"actors.russia.resolve": 0.9}` or
    `["actors.russia.resolve=0.9"]`) applied before validation.
    """
    raw, shown = resolve_raw(source, overrides)
    note = "after --set" if overrides else ""
    scenario = validate(raw, shown=shown, note=note)
    _check_event_sets(raw, shown)
    return scenario


def apply_changes(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The scenario with a scripted event's parameter changes applied (validated)."""
    raw = scenario.model_dump(mode="json")
    for path, value in changes.items():
        set_path(raw, path, value, shown=scenario.name, origin="scripted set")
    return validate(raw, shown=scenario.name)
