"""The calibration's engine: ABC-SMC (pyabc) of the shared parameters against one or more coded records.

Each episode contributes its record's summaries (`sim.analysis.fit`) and a
calm check: the same scenario with its scripted events removed must stay calm
(no material hostility, no deal), which is what the record's quiet years say.
The free parameters are the mechanism parameters the schema marks
`calibratable` and the roles' activity multipliers, with uniform priors over
their ranges; every episode's stances stay as its sources give them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.analysis.fit import simulate, summary
from sim.analysis.sensitivity import calibratable
from sim.scenario.record import Targets, targets
from sim.scenario.schema import Scenario

ROLE_ACTIVITY = (0.05, 3.0)  # prior range of a role's activity multiplier
CALM_DAYS = 60
TRANSITION_SCALING = 1.0
RUNGS_OF_ROOT = np.array([0] * 10 + [1] * 4 + [2] * 4 + [3] * 3)  # index = CAMEO root 0..20


def free_parameters(scenarios: Sequence[Scenario]) -> dict[str, tuple[float, float]]:
    """The calibratable mechanism parameters and the activity of every role but `state` (the unit)."""
    ranges = dict(calibratable(scenarios[0]))
    roles = sorted({sc.actors[a].role for sc in scenarios for a in sc.actors} - {"state"})
    ranges.update({f"roles.{r}.activity": ROLE_ACTIVITY for r in roles})
    return ranges


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
    calm = scenario.model_copy(update={"events": []})
    quiet = simulate(calm, runs, days=CALM_DAYS, batch=batch, posterior=False)
    ev = quiet.events
    roots = np.array([int(c[:2]) if c else 0 for c in quiet.cameo])
    material = ev[roots[ev[:, 4]] >= 15]
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


@dataclass
class Fit:
    """The posterior of an ABC-SMC run and how it went."""

    names: list[str]
    ranges: dict[str, tuple[float, float]]
    posterior: pd.DataFrame  # one row per particle: parameters and weight
    observed: dict[str, float]
    generations: int
    evaluations: int
    seconds: float
    ess: list[float]
    epsilons: list[float]
    acceptance: list[float]
    stopped_early: bool
    reason: str
    episodes: list[str] = field(default_factory=list)

    def narrowing(self) -> pd.DataFrame:
        """Median, 90% interval and how far each parameter narrowed (interval width / prior width)."""
        w = self.posterior["weight"].to_numpy(float)
        rows = []
        for name in self.names:
            values = self.posterior[name].to_numpy(float)
            order = np.argsort(values)
            cdf = np.cumsum(w[order]) / w.sum()
            q = [
                float(values[order][min(np.searchsorted(cdf, p), len(values) - 1)]) for p in (0.05, 0.5, 0.95)
            ]
            lo, hi = self.ranges[name]
            rows.append(
                {
                    "parameter": name,
                    "q05": q[0],
                    "median": q[1],
                    "q95": q[2],
                    "narrowing": (q[2] - q[0]) / (hi - lo),
                }
            )
        return pd.DataFrame(rows)


def run_abc(
    scenarios: Sequence[Scenario],
    *,
    population: int = 300,
    generations: int = 10,
    runs: int = 60,
    seed: int = 1,
    max_seconds: float = 3600.0,
    min_acceptance: float = 0.02,
    progress: Callable[[str], None] | None = None,
) -> Fit:
    """ABC-SMC over the free parameters against every episode's record at once (summaries side by side)."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    goals = [targets(sc) for sc in scenarios]
    days = [min(sc.days, g.window[1] + 8) for sc, g in zip(scenarios, goals, strict=True)]
    ranges = free_parameters(scenarios)
    keys = {name.replace(".", "__"): name for name in ranges}
    # Each parameter is sampled as z on the real line with a standard logistic prior and used as
    # lo + (hi - lo) sigmoid(z): uniform over its range, and no proposal ever leaves it (in 28
    # dimensions a transition in the bounded space proposes almost only points outside the box).
    prior = pyabc.Distribution(**{k: pyabc.RV("logistic", 0.0, 1.0) for k in keys})
    many = len(scenarios) > 1
    observed: dict[str, float] = {}
    for sc, goal, d in zip(scenarios, goals, days, strict=True):
        for k, v in observed_stats(sc, goal, d).items():
            observed[f"{sc.name}:{k}" if many else k] = v
    count = {"n": 0}

    def model(parameters):
        count["n"] += 1
        params = {keys[k]: _from_z(float(v), ranges[keys[k]]) for k, v in parameters.items()}
        out = {}
        for sc, goal, d in zip(scenarios, goals, days, strict=True):
            for k, v in episode_stats(sc, goal, params, runs=runs, days=d).items():
                out[f"{sc.name}:{k}" if many else k] = v
        return out

    np.random.seed(seed % (2**32))
    abc = pyabc.ABCSMC(
        model,
        prior,
        pyabc.PNormDistance(p=2, fixed_weights={k: 1.0 / _tolerance(k) for k in observed}),
        population_size=population,
        # One kernel per parameter, so that the proposal density factorises: with a joint kernel in
        # twenty-odd dimensions the importance weights collapsed onto two or three particles.
        transitions=pyabc.AggregatedTransition(
            {k: pyabc.MultivariateNormalTransition(scaling=TRANSITION_SCALING) for k in keys}
        ),
        sampler=pyabc.SingleCoreSampler(),
    )
    handler = _Progress(progress, count, time.perf_counter())
    logger = logging.getLogger("ABC")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            abc.new(f"sqlite:///{tmp}/abc.db", observed)
            start = time.perf_counter()
            # one call, so that the threshold shrinks from generation to generation
            history = abc.run(
                max_nr_populations=generations,
                min_acceptance_rate=min_acceptance,
                max_walltime=pd.Timedelta(seconds=max_seconds),
            )
            seconds = time.perf_counter() - start
            frame, weights = history.get_distribution(m=0, t=history.max_t)
            pops = history.get_all_populations()
            ess = [
                float(pyabc.weighted_statistics.effective_sample_size(history.get_distribution(m=0, t=t)[1]))
                for t in range(history.max_t + 1)
            ]
            done_generations = history.max_t + 1  # read now: the database goes with the folder
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)
    rates = [
        float(a / max(s, 1))
        for a, s in zip(pops["particles"].iloc[1:], pops["samples"].iloc[1:], strict=True)
    ]
    if done_generations >= generations:
        stopped_early, reason = False, f"ran all {generations} generations"
    elif rates and rates[-1] < min_acceptance:
        stopped_early, reason = False, f"acceptance fell to {rates[-1]:.1%}, below {min_acceptance:.0%}"
    else:
        stopped_early = True
        reason = (
            f"hit the time limit ({max_seconds:.0f} s) after {done_generations} of {generations} generations"
        )
    posterior = pd.DataFrame({keys[k]: [_from_z(float(z), ranges[keys[k]]) for z in frame[k]] for k in keys})
    posterior["weight"] = np.asarray(weights) / np.sum(weights)
    return Fit(
        names=list(ranges),
        ranges=ranges,
        posterior=posterior[[*ranges, "weight"]],
        observed=observed,
        generations=done_generations,
        evaluations=count["n"],
        seconds=seconds,
        ess=ess,
        epsilons=[float(e) for e in pops["epsilon"].iloc[1:]],
        acceptance=rates,
        stopped_early=stopped_early,
        reason=reason,
        episodes=[sc.name for sc in scenarios],
    )


class _Progress(logging.Handler):
    """Turns pyabc's per-generation log lines into progress lines (generation, threshold, evaluations)."""

    def __init__(self, progress: Callable[[str], None] | None, count: dict, start: float):
        super().__init__(logging.INFO)
        self.progress, self.count, self.start = progress, count, start

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if self.progress and (text.startswith("t:") or text.startswith("Accepted")):
            self.progress(
                f"{text} ({self.count['n']:,} evaluations, {time.perf_counter() - self.start:.0f} s)"
            )


# What counts as one unit of misfit for each kind of summary (docs/model.md 8.1): the distance is
# the root of the summed squares of misfits in these units, so no statistic dominates by its scale.
TOLERANCES = {
    "first_move": 2.0,  # days
    "agreement_day": 3.0,
    "resolution_day": 3.0,
    "p_clash": 0.05,
    "goldstein": 5.0,  # Goldstein points per day
    "share": 0.05,  # share of the events
    "events_per_day": 0.4,
    "rung": 0.05,
    "calm": 0.05,  # share of calm runs
}


def _tolerance(key: str) -> float:
    stat = key.split(":")[-1].split(".")[0]
    return TOLERANCES[stat]


def _from_z(z: float, bounds: tuple[float, float]) -> float:
    """A point on the real line to the parameter's range (the logistic prior maps to a uniform one)."""
    lo, hi = bounds
    return lo + (hi - lo) / (1.0 + np.exp(-z))
