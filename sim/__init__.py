"""Crisis-escalation simulator: an agent-based model of international crises, seeded with Kosovo 2021.

from sim import load_scenario, run
result = run("kosovo_2021", runs=200)
print(result.summary())
result.save("runs/my-run")

The package is laid out as the data flows: `scenario` (files in, validated)
-> `model` (the Mesa model and its compiled engine) -> `ensemble` (many
replicates, in-process or distributed) -> `results` (tables, outcomes, run
folders) -> `analysis` (compare, sweep, sensitivity, calibrate, explain,
event data) -> `plots`, `app` (the dashboard) and `cli`. A stage imports only
stages before it. The names below are imported on first use, so `sim --help`
and `sim validate` do not pay for the engine.
"""

from importlib import import_module

_LAZY = {
    "ScenarioError": "sim.errors",
    "UserError": "sim.errors",
    "bundled_scenarios": "sim.scenario.loader",
    "load_scenario": "sim.scenario.loader",
    "Scenario": "sim.scenario.schema",
    "Result": "sim.results.result",
    "run": "sim.runner",
}

__all__ = [
    "Result",
    "Scenario",
    "ScenarioError",
    "UserError",
    "__version__",
    "bundled_scenarios",
    "load_scenario",
    "run",
]


def __getattr__(name: str):
    if name == "__version__":  # importlib.metadata is slow to import; `sim` starts before it
        from importlib import metadata

        try:
            return metadata.version("crisis-sim")
        except metadata.PackageNotFoundError:  # running from a source tree
            return "0.0.0+source"
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
