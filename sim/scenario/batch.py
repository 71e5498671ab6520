"""Per-replicate parameter values ("batches"), checked against the scenario schema.

Sweeps, sensitivity designs and posterior draws give each replicate its own
value of a few parameters. Those values never pass through pydantic, so this
module holds them to the same bounds the schema puts on the field (read from
the pydantic metadata, so the two cannot drift apart) and accepts only the
paths the engine really reads per replicate: anything else would be silently
ignored.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.errors import ScenarioError
from sim.scenario.schema import Actor, Mechanisms, RoleDef, Scenario

ACTOR_ATTRS = ("capability", "resolve", "risk_tolerance", "hawkishness")

# Mechanism parameters the engine reads once per run (from the scenario), not per
# replicate, so a batch of them would be ignored without a word: the resolution
# window is applied to the finished trajectories.
NOT_PER_REPLICATE = {
    "mechanisms.outcome.resolution_window": "applied once to the finished runs",
}


def _mechanism_fields() -> dict[str, FieldInfo]:
    """Dotted path -> FieldInfo of every numeric mechanism parameter."""
    out: dict[str, FieldInfo] = {}
    for name, info in Mechanisms.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            for key, sub in ann.model_fields.items():
                out[f"mechanisms.{name}.{key}"] = sub
        else:
            out[f"mechanisms.{name}"] = info
    return out


def value_at(scenario: Scenario, path: str) -> float:
    """The scenario's value at a dotted path (mechanisms.*, roles.*, actors.*)."""
    node: Any = scenario
    for part in path.split("."):
        node = node[part] if isinstance(node, Mapping) else getattr(node, part)
    return float(node)


def _value_type(annotation: Any) -> Any:
    """The value type of a dict annotation (dict[K, V] -> V, through Annotated)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_args(annotation)[-1]


def _constraints(item: Any) -> tuple[type | None, list[Any]]:
    """Base type and annotated-types constraints of a FieldInfo or an annotation."""
    if isinstance(item, FieldInfo):
        base, found = _constraints(item.annotation)
        return base, [*found, *item.metadata]
    if typing.get_origin(item) is typing.Annotated:
        base, *meta = typing.get_args(item)
        base, found = _constraints(base)
        for m in meta:
            found += list(m.metadata) if isinstance(m, FieldInfo) else [m]
        return base, found
    return (item if item in (int, float) else None), []


class _Bounds:
    """What one per-replicate value must satisfy: a number of the field's type in its range."""

    def __init__(self, item: Any):
        self.base, constraints = _constraints(item)
        self.lo = self.hi = None
        self.lo_open = self.hi_open = False
        for c in constraints:  # annotated-types' Ge, Gt, Le, Lt, as pydantic stores them
            if getattr(c, "ge", None) is not None:
                self.lo, self.lo_open = float(c.ge), False
            elif getattr(c, "gt", None) is not None:
                self.lo, self.lo_open = float(c.gt), True
            elif getattr(c, "le", None) is not None:
                self.hi, self.hi_open = float(c.le), False
            elif getattr(c, "lt", None) is not None:
                self.hi, self.hi_open = float(c.lt), True

    def describe(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {self.hi:g}")
        kind = "whole numbers" if self.base is int else "numbers"
        return f"finite {kind}" + (f" {' and '.join(parts)}" if parts else "")

    def bad(self, values: np.ndarray) -> np.ndarray:
        """Mask of the values the field would refuse."""
        with np.errstate(invalid="ignore"):
            out = ~np.isfinite(values)
            if self.lo is not None:
                out |= (values <= self.lo) if self.lo_open else (values < self.lo)
            if self.hi is not None:
                out |= (values >= self.hi) if self.hi_open else (values > self.hi)
            if self.base is int:
                out |= values != np.round(values)
        return out


def batch_fields(scenario: Scenario) -> dict[str, _Bounds]:
    """Every path the engine reads per replicate in this scenario, with its schema bounds."""
    fields: dict[str, _Bounds] = {
        path: _Bounds(info) for path, info in _mechanism_fields().items() if path not in NOT_PER_REPLICATE
    }
    for attr in ACTOR_ATTRS:
        bounds = _Bounds(Actor.model_fields[attr])
        fields.update({f"actors.{a}.{attr}": bounds for a in scenario.actors})
    affinity = _Bounds(_value_type(_value_type(Scenario.model_fields["affinities"].annotation)))
    for a, row in scenario.affinities.items():
        fields.update({f"affinities.{a}.{b}": affinity for b in row})
    leverage = _Bounds(_value_type(Actor.model_fields["leverage"].annotation))
    for k, actor in scenario.actors.items():
        fields.update({f"actors.{k}.leverage.{i}": leverage for i in actor.leverage})
    activity = _Bounds(RoleDef.model_fields["activity"])
    fields.update({f"roles.{r}.activity": activity for r in scenario.roles})
    return fields


def batch_paths(scenario: Scenario) -> list[str]:
    """The dotted paths a batch may vary in this scenario (what the engine reads per replicate)."""
    return list(batch_fields(scenario))


def _which_paths() -> str:
    mech = [p.removeprefix("mechanisms.") for p in _mechanism_fields() if p not in NOT_PER_REPLICATE]
    return (
        f"mechanisms.({', '.join(mech)}); actors.ID.({', '.join(ACTOR_ATTRS)}); "
        "affinities.A.B and actors.ID.leverage.B for the pairs the scenario lists; roles.ROLE.activity"
    )


def _unknown(path: str, fields: Mapping[str, _Bounds]) -> str:
    if path in NOT_PER_REPLICATE:
        why = f"cannot vary per replicate ({NOT_PER_REPLICATE[path]}; set it with --set instead)"
    else:
        hint = difflib.get_close_matches(path, list(fields), n=1)
        why = "not a parameter that can vary per replicate" + (f"; did you mean '{hint[0]}'?" if hint else "")
    return f"{why}; the engine varies per replicate: {_which_paths()}"


def _as_numbers(values: Any) -> np.ndarray | str:
    """The values as a flat float array, or what was wrong with them."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        return "expected a list of numbers"
    flat = arr.reshape(-1)
    if arr.dtype.kind in "iuf":
        return flat.astype(np.float64)
    for v in flat:
        if not _is_number(v):
            return f"expected numbers, found {_show(v)}"
    return flat.astype(np.float64)  # an object array of plain numbers


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _show(v: Any) -> str:
    text = repr(v.item() if isinstance(v, np.generic) else v)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_batch(
    scenario: Scenario,
    batch: Mapping[str, Any] | None,
    source: str | None = None,
    *,
    size: int | None = None,
) -> dict[str, np.ndarray]:
    """Check per-replicate values against the schema; return them as flat float arrays.

    Every path must be one the engine reads per replicate, every value a finite
    number within the field's bounds, and (when `size` is given) each array
    must hold one value per replicate. A ScenarioError names `source` (e.g.
    the posterior file or `--vary`; "batch" when not given) and the path.
    """
    shown = source or "batch"
    if batch is None:
        return {}
    if not isinstance(batch, Mapping):
        found = type(batch).__name__
        raise ScenarioError(f"expected a mapping of path -> values, found {found}", source=shown)
    fields = batch_fields(scenario)
    out: dict[str, np.ndarray] = {}
    for path, values in batch.items():
        if not isinstance(path, str) or path not in fields:
            raise ScenarioError(_unknown(str(path), fields), source=shown, field=str(path))
        bounds = fields[path]
        arr = _as_numbers(values)
        if isinstance(arr, str):
            raise ScenarioError(arr, source=shown, field=path)
        if size is not None and len(arr) != size:
            raise ScenarioError(
                f"expected {size} values (one per replicate), found {len(arr)}", source=shown, field=path
            )
        bad = np.flatnonzero(bounds.bad(arr))
        if len(bad):
            first = int(bad[0])
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            found = f"{arr[first]:g}"
            raise ScenarioError(
                f"expected {bounds.describe()}, found {found} at position {first}{more}",
                source=shown,
                field=path,
            )
        out[path] = arr
    return out
