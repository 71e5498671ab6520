"""What-ifs as data: the controls a scenario offers, the edited scenario, and its export.

The dashboard (`sim/app/dashboard.py`) is a face on these functions; they hold no UI
code, so the same what-if can be built, run and exported from a notebook.
"""

from __future__ import annotations

import io
import math
import tempfile
import typing
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.analysis.sensitivity import calibratable
from sim.errors import ScenarioError
from sim.results.result import Result
from sim.scenario.loader import BUNDLED, load_scenario, resolve_path
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
                _control(
                    f"actors.{actor_id}.{name}",
                    f"{actor.name}: {name.replace('_', ' ')}",
                    bounds,
                    value,
                    field.description or "",
                    actor.name,
                )
            )
    for path, bounds in calibratable(scenario).items():
        node: Any = scenario.mechanisms
        keys = path.removeprefix("mechanisms.").split(".")
        for key in keys:
            node = getattr(node, key)
        group_model = scenario.mechanisms
        for key in keys[:-1]:
            group_model = getattr(group_model, key)
        field = type(group_model).model_fields[keys[-1]]
        out.append(
            _control(
                path,
                ".".join(keys).replace("_", " "),
                bounds,
                float(node),
                field.description or "",
                "mechanisms",
            )
        )
    return out


def _control(
    path: str, label: str, bounds: tuple[float, float], value: float, help: str, group: str
) -> Control:
    # the range always holds the scenario's own value, so showing it never clamps it
    low, high = min(bounds[0], value), max(bounds[1], value)
    step = _step(low, high, value)
    if (high - low) / step > MOST_STEPS:  # only a very fine grid from `low` holds the value: the finest
        # round step a slider can still be moved along, its grid started a little above `low`, on the value
        step = min(st for st in NICE_STEPS if (high - low) / st <= MOST_STEPS)
        low = value - math.floor((value - low) / step + 1e-9) * step
    return Control(path, label, low, high, step, value, help, group)


MOST_STEPS = 1000  # a grid a slider can still be moved along


NICE_STEPS = [m * 10.0**e for e in range(1, -5, -1) for m in (5, 2, 1)]  # 50, 20, 10, 5, ... 0.0001


def _step(low: float, high: float, value: float) -> float:
    """A round step, at least 30 to the range, whose grid (counted from `low`) holds the scenario's value.

    The browser's slider snaps to its grid; with the value on the grid the unmoved
    slider shows the scenario's value exactly.
    """
    fitting = [s for s in NICE_STEPS if s <= (high - low) / 30] or [NICE_STEPS[-1]]
    for step in fitting:
        k = (value - low) / step
        if abs(k - round(k)) < 1e-6:
            return step
    return fitting[0]  # no round grid holds it: `slider_value` still reads the nearest point as the value


def slider_value(control: Control, value: Any) -> float | None:
    """What a slider's reported position means: None for "the scenario's value", else the new value.

    The slider reports positions on its grid; the grid point nearest the
    scenario's value stands for that value itself, so a slider that snapped on
    display (or was moved back) changes nothing. Anything the page could not
    have sent (not a number, outside the slider's range) is refused.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(
            f"expected a number, found {shown(value)}", source="dashboard", field=control.path
        )
    if not control.low <= value <= control.high:
        raise ScenarioError(
            f"expected a value from {control.low:g} to {control.high:g}, found {shown(value)}",
            source="dashboard",
            field=control.path,
        )
    if abs(value - control.value) <= control.step / 2 + 1e-9:
        return None
    return round(float(value), 6)


def shown(value: Any, limit: int = 40) -> str:
    """A value a browser sent, for an error message: repr, one line, clipped."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """A scenario file that `extends:` the base with these changes: `sim run` reruns the what-if.

    The base is named by its file name, never by a path on the server: a bundled
    scenario is found by that name wherever the file is saved, another base when
    the file is saved next to it.
    """
    path = resolve_path(base)
    body: dict[str, Any] = {"name": name, "extends": path.name}
    for key_path, value in sorted(overrides.items()):
        node = body
        keys = key_path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    if events:
        body["events"] = [_event(e) for e in events]
    if path.resolve().parent == BUNDLED.resolve():
        where = f"`{path.stem}` is a bundled scenario, so save this file anywhere"
    else:
        where = f"save this file next to {path.name}"
    header = f"# A what-if exported from the dashboard; `sim run` on this file reruns it ({where}).\n"
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
