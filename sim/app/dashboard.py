"""The dashboard: a Solara page over the Python API for what-if questions.

Run it with `sim dashboard [SCENARIO] [--port P]` (served by `sim.app.serve`).
Only this module imports Solara, so running models never does (as in Mesa's
examples). Controls are generated from the scenario schema
(`sim.app.whatif.controls`); every run goes through `sim.run`, the same engine
as the CLI.

The browser is not trusted: whatever it sends (a scenario name, the number of
runs, a slider position, an event row) is checked here against the choices the
page offers and the scenario schema before it changes anything, and refused
with a one-line message otherwise. Module-level `solara.reactive` values are
per page: Solara keeps one copy for each browser page's session.
"""

from __future__ import annotations

import os
import threading
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import solara
import solara.lab

from sim.analysis.compare import Comparison, compare
from sim.analysis.explain import explain_scenario
from sim.app.whatif import Control, build, controls, export_yaml, shown, slider_value, zip_run
from sim.errors import UserError
from sim.runner import run
from sim.scenario.loader import DEFAULT_SCENARIO, bundled_scenarios, load_scenario
from sim.scenario.schema import Scenario

START = os.environ.get("SIM_DASHBOARD_SCENARIO", DEFAULT_SCENARIO)
CHOICES = sorted(set(bundled_scenarios()) | {START})
RUNS = (50, 2000, 50)  # the runs slider: minimum, maximum, step
MAX_EVENTS = 30  # scripted events a page may add

# One ensemble at a time on this server: a second Run (from any page) gets a
# message instead of doubling the memory and halving everyone's speed.
_RUNNING = threading.Lock()

scenario_name = solara.reactive(START)
overrides: solara.Reactive[dict] = solara.reactive({})
extra_events: solara.Reactive[list] = solara.reactive([])
runs = solara.reactive(300)
result = solara.reactive(None)
comparison = solara.reactive(None)
error = solara.reactive("")
elapsed = solara.reactive(0.0)


def current():
    """The edited scenario, or None with the error shown next to the controls."""
    try:
        scenario = build(scenario_name.value, overrides.value, extra_events.value)
    except UserError as exc:
        error.set(str(exc))
        return None
    error.set("")
    return scenario


def _refuse(field: str, expected: str, value) -> None:
    error.set(f"dashboard: {field}: expected {expected}, found {shown(value)}; nothing changed")


def choose_scenario(value) -> None:
    """The scenario picker: only a listed scenario is loaded (the page could send any text)."""
    if not isinstance(value, str) or value not in CHOICES:
        _refuse("scenario", "one of the listed scenarios", value)
        return
    scenario_name.set(value)
    overrides.set({})
    extra_events.set([])
    result.set(None)
    comparison.set(None)
    error.set("")


def set_runs(value) -> None:
    low, high, _ = RUNS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _refuse("runs", f"a whole number from {low} to {high}", value)
        return
    runs.set(value)
    error.set("")


def set_override(control: Control, value) -> None:
    """A slider moved: record the change, or drop it when the slider stands at the scenario's value."""
    try:
        changed = slider_value(control, value)
    except UserError as exc:
        error.set(f"{exc}; nothing changed")
        return
    new = {k: v for k, v in overrides.value.items() if k != control.path}
    if changed is not None:
        new[control.path] = changed
    overrides.set(new)


def event_field(scenario: Scenario, key: str, value):
    """An event row's field as the page sent it, checked against what the row offers; raises UserError."""
    if key == "day":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < scenario.days:
            raise UserError(
                f"expected a day from 0 to {scenario.days - 1}, found {shown(value)}", field="event day"
            )
        return value
    offered = {"actor": list(scenario.actors), "target": list(scenario.actors), "move": _moves(scenario)}
    if key not in offered:
        raise UserError(f"expected day, actor, move or target, found {shown(key)}", field="event")
    if not isinstance(value, str) or value not in offered[key]:
        raise UserError(f"expected one of the listed {key}s, found {shown(value)}", field=f"event {key}")
    return value


def update_event(scenario: Scenario, k: int, key: str, value) -> None:
    try:
        checked = event_field(scenario, key, value)
    except UserError as exc:
        error.set(f"dashboard: {exc}; nothing changed")
        return
    rows = [dict(r) for r in extra_events.value]
    if 0 <= k < len(rows):
        rows[k][key] = checked
        extra_events.set(rows)


def _moves(scenario: Scenario) -> list[str]:
    return [m for m in scenario.moves if m != "hold"]


def _checked_runs() -> int | None:
    low, high, _ = RUNS
    n = runs.value
    if not low <= n <= high:  # only set_runs sets it; checked again where it is spent
        _refuse("runs", f"a whole number from {low} to {high}", n)
        return None
    return n


def _one_at_a_time() -> bool:
    if _RUNNING.acquire(blocking=False):
        return True
    error.set("another run is in progress on this server; press the button again when it has finished")
    return False


@solara.lab.task
def run_ensemble():
    scenario, n = current(), _checked_runs()
    if scenario is None or n is None or not _one_at_a_time():
        return
    try:
        start = time.perf_counter()
        result.set(run(scenario, runs=n, events="all"))
        elapsed.set(time.perf_counter() - start)
        comparison.set(None)
    finally:
        _RUNNING.release()


def compare_to_base(name: str, scenario: Scenario, n: int) -> Comparison:
    """The what-if against its unmodified scenario on common random numbers, under distinct names."""
    base = load_scenario(name)
    edited = scenario.model_copy(update={"name": f"{scenario.name}_whatif"})
    return compare([base, edited], runs=n, events="none")


def difference_table(comp: Comparison):
    """The what-if's rows of a comparison: each metric, its value and its difference to the base."""
    table = comp.table
    rows = table[table["scenario"] == comp.names[-1]][["label", "value", "difference", "ci_low", "ci_high"]]
    return rows.round(3).reset_index(drop=True)


@solara.lab.task
def compare_with_base():
    scenario, n = current(), _checked_runs()
    if scenario is None or n is None or not _one_at_a_time():
        return
    try:
        comparison.set(compare_to_base(scenario_name.value, scenario, n))
    finally:
        _RUNNING.release()


@solara.component
def Figure(fig):
    solara.FigureMatplotlib(fig, format="png", dpi=110)
    plt.close(fig)


@solara.component
def ScenarioPanel():
    base = load_scenario(scenario_name.value)
    solara.Select("Scenario", values=CHOICES, value=scenario_name.value, on_value=choose_scenario)
    solara.Markdown(base.description)
    rows = "\n".join(
        f"| {a.name} | {a.role} | {a.capability:.2f} | {a.resolve:.2f} | {a.hawkishness:.2f} |"
        for a in base.actors.values()
    )
    solara.Markdown("| actor | role | capability | resolve | hawkish |\n|---|---|---|---|---|\n" + rows)


@solara.component
def Controls():
    scenario = load_scenario(scenario_name.value)
    groups: dict[str, list] = {}
    for c in controls(scenario):
        groups.setdefault(c.group, []).append(c)
    for group, items in groups.items():
        with solara.Details(group, expand=group in ("Russia", "mechanisms")):
            for c in items:
                solara.SliderFloat(
                    c.label,
                    value=overrides.value.get(c.path, c.value),
                    min=c.low,
                    max=c.high,
                    step=c.step,
                    on_value=lambda v, c=c: set_override(c, v),
                    thumb_label="always",
                )
    EventsEditor(scenario)


@solara.component
def Changes():
    """What the next run changes from the scenario (nothing until a slider is moved or an event added)."""
    if not overrides.value and not extra_events.value:
        solara.Text("Unmodified scenario", style={"font-size": "0.85em", "color": "#666"})
        return
    by_path = {c.path: c for c in controls(load_scenario(scenario_name.value))}
    items = [
        f"{by_path[p].label} {by_path[p].value:g} → {v:g}" for p, v in overrides.value.items() if p in by_path
    ]
    if extra_events.value:
        items.append(f"{len(extra_events.value)} added event(s)")
    solara.Text("Changed: " + "; ".join(items), style={"font-size": "0.85em"})


@solara.component
def EventsEditor(scenario):
    actors = list(scenario.actors)
    moves = _moves(scenario)
    with solara.Details("scripted events", expand=False):
        for e in scenario.events:
            if e.move:
                solara.Text(f"day {e.day}: {e.actor} {e.move} -> {e.target} (from the scenario)")
        for k, row in enumerate(extra_events.value):
            with solara.Row():
                solara.InputInt(
                    "day",
                    value=row.get("day", 0),
                    on_value=lambda v, k=k: update_event(scenario, k, "day", v),
                )
                for key, values in (("actor", actors), ("move", moves), ("target", actors)):
                    solara.Select(
                        key,
                        values=values,
                        value=row.get(key),
                        on_value=lambda v, k=k, key=key: update_event(scenario, k, key, v),
                    )
                solara.Button(
                    "remove",
                    text=True,
                    on_click=lambda k=k: extra_events.set(
                        [r for i, r in enumerate(extra_events.value) if i != k]
                    ),
                )
        solara.Button(
            "add an event",
            text=True,
            disabled=len(extra_events.value) >= MAX_EVENTS,
            on_click=lambda: extra_events.set(
                [*extra_events.value, {"day": 3, "actor": actors[0], "move": moves[0], "target": actors[1]}][
                    :MAX_EVENTS
                ]
            ),
        )


@solara.component
def Outcomes(res):
    s = res.summary()
    rows = "\n".join(
        f"| {name} | {share:.1%} | {low:.1%} – {high:.1%} |" for name, (share, low, high) in s.shares.items()
    )
    solara.Markdown("| outcome | share | 95% interval |\n|---|---|---|\n" + rows)
    resolution = (
        f"{s.median_resolution_date:%d %b %Y} (day {s.median_resolution_day:g})"
        if s.median_resolution_day is not None
        else "none resolved"
    )
    solara.Markdown(
        f"**Median peak** {s.median_peak_tension:.1f}/100 on {s.median_peak_date:%d %b %Y}; "
        f"**median resolution** {resolution}; {s.runs} runs in {elapsed.value:.2f} s."
    )


@solara.component
def EventLog(res):
    chosen_run = solara.use_reactive(int(res.runs[0]))
    actor = solara.use_reactive("all")
    events = res.events
    part = events[events["run"] == chosen_run.value]
    if actor.value != "all":
        part = part[part["actor"] == actor.value]
    with solara.Row():
        solara.InputInt("run", value=chosen_run)
        solara.Select("actor", values=["all", *res.model.spec.actor_ids], value=actor)
    solara.DataFrame(part.drop(columns=["run"]), items_per_page=15)


@solara.component
def Why(res):
    chosen_run = solara.use_reactive(int(res.runs[0]))
    actor = solara.use_reactive(res.model.spec.actor_ids[0])
    day = solara.use_reactive(3)
    with solara.Row():
        solara.InputInt("run", value=chosen_run)
        solara.Select("actor", values=res.model.spec.actor_ids, value=actor)
        solara.InputInt("day", value=day)
    if chosen_run.value not in {int(r) for r in res.runs}:
        last = len(res.runs) - 1
        solara.Error(
            f"run: expected one of this ensemble's runs, 0 to {last}, found {shown(chosen_run.value)}"
        )
        return
    try:
        ex = explain_scenario(
            res.scenario, run=chosen_run.value, actor=actor.value, day=day.value, posterior=res.posterior
        )
    except UserError as exc:
        solara.Error(str(exc))
        return
    solara.Text(f"{ex.actor} on {ex.date}: each option's utility split into the mechanisms' terms")
    solara.DataFrame(ex.table.drop(columns="allowed").round(3), items_per_page=12)
    for line in ex.lines()[2:]:  # below the table, as `sim explain` prints them: stage 1, and what may
        solara.Text(line)  # end before any choice (a deal carried out, a demand met)


@solara.component
def Export(res):
    name = f"{scenario_name.value}_whatif"
    yaml_text = export_yaml(scenario_name.value, name, overrides.value, extra_events.value)
    with solara.Row():
        solara.FileDownload(yaml_text.encode(), filename=f"{name}.yaml", label="Export scenario YAML")
        solara.FileDownload(lambda: zip_run(res), filename=f"{name}.zip", label="Download run folder (zip)")


@solara.component
def Results():
    res = result.value
    # always present, so the tabs below keep their place (and the chosen tab) while a run is pending
    solara.ProgressLinear(run_ensemble.pending or compare_with_base.pending)
    if res is None:
        solara.Info("Set the sliders, then press Run.")
        return
    with solara.lab.Tabs():
        with solara.lab.Tab("Tension"):
            Outcomes(res)
            Figure(res.plot("tension"))
        with solara.lab.Tab("Dyads"):
            Figure(res.plot("dyads"))
        with solara.lab.Tab("Compare with base"):
            solara.Button("Compare with the unmodified scenario", on_click=compare_with_base)
            if comparison.value is not None:
                solara.DataFrame(difference_table(comparison.value))
                Figure(comparison.value.plot())
        with solara.lab.Tab("Why"):
            Why(res)
        with solara.lab.Tab("Event log"):
            EventLog(res)
        with solara.lab.Tab("Export"):
            Export(res)


@solara.component
def Page():
    solara.Title("Crisis simulator: what if?")
    with solara.Sidebar():
        ScenarioPanel()
        solara.Div(style={"height": "28px"})  # room for the slider's value label
        low, high, step = RUNS
        solara.SliderInt(
            "runs", value=runs.value, min=low, max=high, step=step, on_value=set_runs, thumb_label="always"
        )
        solara.Button("Run", on_click=run_ensemble, color="primary", disabled=run_ensemble.pending)
        Changes()
        if error.value:
            solara.Error(error.value)
        Controls()
    Results()
