"""The dashboard: a Solara page over the Python API for what-if questions.

Run it with `sim dashboard [SCENARIO] [--port P]`. Only this module imports
Solara, so running models never does (as in Mesa's examples). Controls are
generated from the scenario schema (`sim.app.whatif.controls`); every run goes
through `sim.run`, the same engine as the CLI.
"""

from __future__ import annotations

import os
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import solara
import solara.lab

from sim.analysis.compare import compare
from sim.analysis.explain import explain_scenario
from sim.app.whatif import build, controls, export_yaml, zip_run
from sim.errors import UserError
from sim.runner import run
from sim.scenario.loader import bundled_scenarios, load_scenario

START = os.environ.get("SIM_DASHBOARD_SCENARIO", "kosovo_2021")
CHOICES = sorted(set(bundled_scenarios()) | {START})

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


@solara.lab.task
def run_ensemble():
    scenario = current()
    if scenario is None:
        return
    start = time.perf_counter()
    result.set(run(scenario, runs=runs.value, events="all"))
    elapsed.set(time.perf_counter() - start)
    comparison.set(None)


@solara.lab.task
def compare_with_base():
    scenario = current()
    if scenario is None:
        return
    base = load_scenario(scenario_name.value)
    comparison.set(compare([base, scenario], runs=runs.value, events="none"))


def set_override(path: str, value: float) -> None:
    overrides.set({**overrides.value, path: round(float(value), 4)})


@solara.component
def Figure(fig):
    solara.FigureMatplotlib(fig, format="png", dpi=110)
    plt.close(fig)


@solara.component
def ScenarioPanel():
    base = load_scenario(scenario_name.value)
    solara.Select(
        "Scenario",
        values=CHOICES,
        value=scenario_name,
        on_value=lambda _: (overrides.set({}), extra_events.set([]), result.set(None)),
    )
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
                value = overrides.value.get(c.path, c.value)
                solara.SliderFloat(
                    c.label,
                    value=value,
                    min=c.low,
                    max=c.high,
                    step=c.step,
                    on_value=lambda v, path=c.path: set_override(path, v),
                    thumb_label="always",
                )
    EventsEditor(scenario)
    if error.value:
        solara.Error(error.value)


@solara.component
def EventsEditor(scenario):
    actors = list(scenario.actors)
    moves = [m for m in scenario.moves if m != "hold"]
    with solara.Details("scripted events", expand=False):
        for e in scenario.events:
            if e.move:
                solara.Text(f"day {e.day}: {e.actor} {e.move} -> {e.target} (from the scenario)")
        rows = list(extra_events.value)
        for k, row in enumerate(rows):

            def update(key, value, k=k):
                new = [dict(r) for r in extra_events.value]
                new[k][key] = value
                extra_events.set(new)

            with solara.Row():
                solara.InputInt("day", value=row.get("day", 0), on_value=lambda v: update("day", v))
                solara.Select(
                    "actor", values=actors, value=row.get("actor"), on_value=lambda v: update("actor", v)
                )
                solara.Select(
                    "move", values=moves, value=row.get("move"), on_value=lambda v: update("move", v)
                )
                solara.Select(
                    "target", values=actors, value=row.get("target"), on_value=lambda v: update("target", v)
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
            on_click=lambda: extra_events.set(
                [*extra_events.value, {"day": 3, "actor": actors[0], "move": moves[0], "target": actors[1]}]
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
    try:
        ex = explain_scenario(
            res.scenario, run=chosen_run.value, actor=actor.value, day=day.value, posterior=res.posterior
        )
    except UserError as exc:
        solara.Error(str(exc))
        return
    solara.Text(f"{ex.actor} on {ex.date}: each option's utility split into the mechanisms' terms")
    solara.DataFrame(ex.table.drop(columns="allowed").round(3), items_per_page=12)


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
                table = comparison.value.table
                solara.DataFrame(
                    table[table["scenario"] != table["scenario"].iloc[0]][
                        ["label", "value", "difference", "ci_low", "ci_high"]
                    ].round(3)
                )
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
        solara.SliderInt("runs", value=runs, min=50, max=2000, step=50, thumb_label="always")
        solara.Button("Run", on_click=run_ensemble, color="primary", disabled=run_ensemble.pending)
        Controls()
    Results()
