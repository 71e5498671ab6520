"""What-ifs as data: the controls a scenario offers, the edited scenario, and its export.

The dashboard (`sim/app.py`) is a face on these functions; they hold no UI
code, so the same what-if can be built, run and exported from a notebook.
"""

from __future__ import annotations

import io
import tempfile
import typing
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.analysis.sensitivity import calibratable
from sim.results.result import Result
from sim.scenario.loader import load_scenario, resolve_path
from sim.scenario.schema import Actor, Scenario


@dataclass(frozen=True)
class Control:
    """One slider: a numeric scenario value with its range, step and meaning."""

    path: str
    label: str
    low: float
    high: float
    step: float
    value: float
    help: str
    group: str


def _bounds(field) -> tuple[float, float] | None:
    low = high = None
    for item in field.metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    if low is None:  # Annotated aliases keep their bounds one level down
        for arg in typing.get_args(field.annotation)[1:]:
            for item in getattr(arg, "metadata", [arg]):
                low = getattr(item, "ge", low)
                high = getattr(item, "le", high)
    return (float(low), float(high)) if low is not None and high is not None else None


def controls(scenario: Scenario) -> list[Control]:
    """Sliders generated from the schema: every actor's bounded stances, every calibratable mechanism."""
    out = []
    for actor_id, actor in scenario.actors.items():
        for name, field in Actor.model_fields.items():
            bounds = _bounds(field)
            value = getattr(actor, name)
            if bounds is None or not isinstance(value, float):
                continue
            out.append(
                Control(
                    f"actors.{actor_id}.{name}",
                    f"{actor.name}: {name.replace('_', ' ')}",
                    *bounds,
                    0.05,
                    value,
                    field.description or "",
                    actor.name,
                )
            )
    for path, (low, high) in calibratable(scenario).items():
        node: Any = scenario.mechanisms
        keys = path.removeprefix("mechanisms.").split(".")
        for key in keys:
            node = getattr(node, key)
        group_model = scenario.mechanisms
        for key in keys[:-1]:
            group_model = getattr(group_model, key)
        field = type(group_model).model_fields[keys[-1]]
        out.append(
            Control(
                path,
                ".".join(keys).replace("_", " "),
                low,
                high,
                round((high - low) / 50, 4),
                float(node),
                field.description or "",
                "mechanisms",
            )
        )
    return out


def build(base: str | Path, overrides: dict[str, Any], events: list[dict]) -> Scenario:
    """The base scenario with slider overrides and extra scripted events, validated like a file."""
    changes = dict(overrides)
    if events:
        raw = load_scenario(base).model_dump(mode="json", exclude={"extends"})
        changes["events"] = raw["events"] + [_event(e) for e in events]
    return load_scenario(base, changes or None)


def _event(row: dict) -> dict:
    return {k: v for k, v in row.items() if v not in (None, "")}


def export_yaml(base: str | Path, name: str, overrides: dict[str, Any], events: list[dict]) -> str:
    """A scenario file that `extends:` the base with these changes: `sim run` reruns the what-if."""
    body: dict[str, Any] = {"name": name, "extends": str(resolve_path(base).resolve())}
    for path, value in sorted(overrides.items()):
        node = body
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    if events:
        body["events"] = [_event(e) for e in events]
    header = "# A what-if exported from the dashboard; `sim run` on this file reruns it.\n"
    return header + yaml.safe_dump(body, sort_keys=False)


def zip_run(result: Result) -> bytes:
    """The run folder (tables, figures, manifest, scenario) as a zip file's bytes."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        folder = result.save(Path(tmp) / "run")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"{result.scenario.name}/{path.name}")
    return buffer.getvalue()
