"""Crisis-escalation simulator: an agent-based model of the 2021 Kosovo licence-plate crisis.

from sim import load_scenario, run
result = run("kosovo_2021", runs=200)
print(result.summary())
result.save("runs/my-run")
"""

from importlib import metadata

from sim.errors import ScenarioError, UserError
from sim.loader import bundled_scenarios, load_scenario
from sim.results import Result
from sim.runner import run
from sim.scenario import Scenario

try:
    __version__ = metadata.version("crisis-sim")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

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
