"""The calibration's engine: ABC-SMC (pyabc) of the shared parameters against one or more coded records.

Each episode contributes its record's summaries (`sim.analysis.fit`) and a
calm check: the same scenario with its scripted events and history removed must stay calm
(no material hostility, no deal), which is what the record's quiet years say.
The free parameters are the mechanism parameters the schema marks
`calibratable` and the roles' activity multipliers, with uniform priors over
their ranges; every episode's stances stay as its sources give them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from sim.analysis.fit import RUNGS_OF_ROOT, simulate, summary
from sim.analysis.sensitivity import calibratable
from sim.errors import UserError
from sim.scenario.record import Targets
from sim.scenario.schema import Scenario

ROLE_ACTIVITY = (0.05, 5.0)  # prior range of a role's activity multiplier
CALM_DAYS = 60
TRANSITION_SCALING = 1.0


def free_parameters(
    scenarios: Sequence[Scenario],
    fixed: Collection[str] = (),
    freed: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """The calibratable mechanism parameters and the activity of every role but `state` (the unit),
    plus those `freed` over the priors given, less those held `fixed`."""
    ranges = dict(calibratable(scenarios[0]))
    roles = sorted({sc.actors[a].role for sc in scenarios for a in sc.actors} - {"state"})
    ranges.update({f"roles.{r}.activity": ROLE_ACTIVITY for r in roles})
    ranges.update(freed or {})
    return {k: v for k, v in ranges.items() if k not in fixed}


def check_freed(scenarios: Sequence[Scenario], freed: Mapping[str, object]) -> dict[str, tuple[float, float]]:
    """Mechanism parameters the calibration would hold at their values, to fit instead over a uniform
    prior given as `LOW:HIGH` (or a pair): a model variant fitted as such, by the command and not by
    editing the schema. Each must be a per-replicate number the schema does not already mark
    calibratable, its prior inside the field's bounds; anything else is a one-line error."""
    from sim.scenario.batch import batch_fields

    fields = batch_fields(scenarios[0])
    already = free_parameters(scenarios)
    out = {}
    for path, value in freed.items():
        if path in already:
            lo, hi = already[path]
            raise UserError(
                f"{path} is already fitted (prior {lo:g} to {hi:g}); --free is for a parameter the "
                "calibration holds at its value",
                field="--free",
            )
        bounds = fields.get(path)
        if not path.startswith("mechanisms.") or bounds is None or bounds.base is int:
            raise UserError(
                f"expected a mechanism parameter that takes any number per replicate (`sim show` lists "
                f"them, e.g. mechanisms.bargaining.hurt_scale), found '{path}'",
                field="--free",
            )
        prior = _prior(value)
        if prior is None or not prior[0] < prior[1] or bounds.bad(np.array(prior)).any():
            raise UserError(
                f"expected {path}=LOW:HIGH with LOW below HIGH, both {bounds.describe()}, found {value!r}",
                field="--free",
            )
        out[path] = prior
    return out


def _prior(value: object) -> tuple[float, float] | None:
    """`"LOW:HIGH"` or a pair of numbers as (low, high), else None."""
    parts = value.split(":") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        return None
    try:
        lo, hi = (float(p) if not isinstance(p, bool) else None for p in parts)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if lo is not None and hi is not None else None


def check_fixed(scenarios: Sequence[Scenario], fixed: Mapping[str, object]) -> dict[str, float]:
    """Parameters to hold at a value instead of fitting: each a free parameter, each value a number
    inside its prior range; anything else is a one-line error naming the option."""
    ranges = free_parameters(scenarios)
    out = {}
    for path, value in fixed.items():
        if path not in ranges:
            raise UserError(
                f"expected a free parameter (sim calibrate's summary lists them, e.g. "
                f"{next(iter(ranges))}), found '{path}'",
                field="--fix",
            )
        lo, hi = ranges[path]
        number = _number(value)
        if number is None or not lo <= number <= hi:
            raise UserError(f"expected {path} from {lo:g} to {hi:g}, found {value!r}", field="--fix")
        out[path] = number
    return out


def _number(value: object) -> float | None:
    """An option's value as a float if it is a number (YAML's `true` is not), else None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _rung_shares(stats: dict[str, float]) -> dict[str, float]:
    out = dict.fromkeys(("rung.0", "rung.1", "rung.2", "rung.3"), 0.0)
    for key, value in stats.items():
        if key.startswith("root."):
            out[f"rung.{RUNGS_OF_ROOT[int(key[5:])]}"] += value
    return out


def episode_stats(
    scenario: Scenario, goal: Targets, params: dict[str, float], *, runs: int, days: int
) -> dict[str, float]:
    """One episode's summaries under `params` (the record's, minus CAMEO roots folded to ladder rungs)."""
    batch = {k: np.full(runs, v) for k, v in params.items() if _applies(scenario, k)}
    stats = summary(simulate(scenario, runs, days=days, batch=batch, posterior=False), goal)
    out = {k: v for k, v in stats.items() if not k.startswith("root.")}
    out.update(_rung_shares(stats))
    calm = scenario.model_copy(update={"events": [], "history": []})
    quiet = simulate(calm, runs, days=CALM_DAYS, batch=batch, posterior=False)
    ev = quiet.events
    material = ev[quiet.roots[ev[:, 4]] >= 15]
    out["calm.material"] = len(np.unique(material[:, 0])) / runs
    out["calm.agreement"] = len(np.unique(ev[ev[:, 4] == quiet.settle_move, 0])) / runs
    return out


def _applies(scenario: Scenario, path: str) -> bool:
    if path.startswith("roles."):
        return path.split(".")[1] in {a.role for a in scenario.actors.values()}
    return True


def observed_stats(scenario: Scenario, goal: Targets, days: int) -> dict[str, float]:
    from sim.analysis.fit import observed

    stats = observed(goal, days)
    out = {k: v for k, v in stats.items() if not k.startswith("root.")}
    out.update(_rung_shares(stats))
    out["calm.material"] = 0.0
    out["calm.agreement"] = 0.0
    return out


def key(name: str) -> str:
    """A parameter's name as pyabc's (no dots)."""
    return name.replace(".", "__")


def distance(observed: dict[str, float], tolerances: Mapping[str, float] | None = None):
    """Root of the summed squared misfits, each in units of its kind's tolerance (TOLERANCES, or
    `tolerances` where given)."""
    import pyabc

    return pyabc.PNormDistance(p=2, fixed_weights={k: 1.0 / _tolerance(k, tolerances) for k in observed})


def misfit(
    observed: dict[str, float], simulated: dict[str, float], tolerances: Mapping[str, float] | None = None
) -> float:
    """The calibration's distance between two sets of summaries, in units of their tolerances."""
    return float(
        np.sqrt(sum(((simulated[k] - v) / _tolerance(k, tolerances)) ** 2 for k, v in observed.items()))
    )


def transition(names: dict[str, str]):
    """One kernel per parameter, so that the proposal density factorises: with a joint kernel in
    twenty-odd dimensions the importance weights collapsed onto two or three particles."""
    import pyabc

    return pyabc.AggregatedTransition(
        {k: pyabc.MultivariateNormalTransition(scaling=TRANSITION_SCALING) for k in names}
    )


# What counts as one unit of misfit for each kind of summary (docs/model.md 8.1): the distance is
# the root of the summed squares of misfits in these units, so no statistic dominates by its scale.
TOLERANCES = {
    "first_move": 1.5,  # days
    "agreement_day": 1.5,
    "resolution_day": 3.0,
    "p_clash": 0.025,  # the record has none; a forecast of 5% is already a clear miss
    "late_violence": 0.1,  # share of runs still violent in the window's last third: a war that runs on
    "goldstein": 5.0,  # Goldstein points per day
    "share": 0.05,  # share of the events
    "events_per_day": 0.8,  # the record is a selective hand-coded set, not an exhaustive count
    "rung": 0.05,
    "calm": 0.025,  # share of calm runs: without a trigger the world stays calm
}


def _tolerance(key: str, tolerances: Mapping[str, float] | None = None) -> float:
    stat = key.split(":")[-1].split(".")[0]
    return (tolerances or {}).get(stat, TOLERANCES[stat])


def check_tolerances(given: Mapping[str, object]) -> dict[str, float]:
    """Tolerances to use instead of TOLERANCES' for some kinds of summary: each a kind TOLERANCES
    names, each value a positive number; anything else is a one-line error naming the option."""
    out = {}
    for kind, value in given.items():
        if kind not in TOLERANCES:
            raise UserError(f"expected one of {', '.join(TOLERANCES)}, found '{kind}'", field="--tolerance")
        number = _number(value)
        if number is None or not 0 < number < float("inf"):
            raise UserError(f"expected {kind} above 0, found {value!r}", field="--tolerance")
        out[kind] = number
    return out


def from_z(z: float, bounds: tuple[float, float]) -> float:
    """A point on the real line to the parameter's range (the logistic prior maps to a uniform one)."""
    lo, hi = bounds
    return lo + (hi - lo) / (1.0 + np.exp(-z))
