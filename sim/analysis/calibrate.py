"""Calibration against coded records by approximate Bayesian computation (pyabc's ABC-SMC).

The target is what each scenario's record supports (docs/model.md, section 8.1;
`sim.scenario.record`): the dated first moves the record names, the day of the
deal and of the end of the standing postures, whether there was an armed
clash, the mean daily Goldstein sum of each phase, each actor's share of the
events, the mix of the ladder's rungs, and calm without the trigger. The free
parameters are the mechanism parameters the schema marks calibratable and the
roles' activity multipliers, each uniform over its range; the result is a
posterior, not one point. The building blocks are in `sim.analysis.abc`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.analysis import abc as abc_parts
from sim.analysis.eventdata import read_event_data
from sim.analysis.sensitivity import whole
from sim.ensemble.posterior import point_values
from sim.errors import UserError
from sim.results.files import atomic_folder, save_figure, write_json
from sim.scenario.point_values import weighted_median
from sim.scenario.record import Targets, locate, targets
from sim.scenario.schema import Scenario


@dataclass
class Calibration:
    """The posterior and what it does."""

    scenario: Scenario
    base_path: str
    posterior: pd.DataFrame  # one row per particle: parameters and weight
    observed: dict[str, float]
    seconds: float
    generations: int
    population: int
    evaluations: int
    data_path: str = ""
    days: int = 33
    ess: list[float] | None = None  # effective sample size of each generation
    generations_asked: int | None = None  # the --generations it was allowed
    stop_reason: str = ""  # why it stopped, in words
    stopped_early: bool = False  # before the generations asked, or before the posterior stopped narrowing
    recheck: list[dict[str, float]] = field(default_factory=list)  # the heaviest particles run again
    fixed: dict[str, float] = field(default_factory=dict)  # held at these values, not fitted (--fix)
    tolerances: dict[str, float] = field(default_factory=dict)  # instead of abc.TOLERANCES' (--tolerance)
    freed: dict[str, tuple[float, float]] = field(default_factory=dict)  # fitted over these priors (--free)

    def summary(self) -> pd.DataFrame:
        """Median and 90% credible interval of each parameter, next to its prior range."""
        ranges = abc_parts.free_parameters([self.scenario], self.fixed, self.freed)
        return posterior_summary(self.posterior, ranges)

    def recheck_line(self) -> str:
        """The recheck in words (empty without one)."""
        return recheck_line(self.recheck)

    def calibrated_yaml(self, base: str | None = None) -> str:
        """A scenario that extends the base with the posterior medians, saying how it was fitted."""
        header = (
            f"# Calibrated by ABC-SMC (pyabc) against its record: posterior medians of the\n"
            f"# free parameters ({self.generations} generations, population {self.population}, "
            f"{self.evaluations} model evaluations, {self.seconds:.0f} s).\n"
            f"{_early_warning(self.stopped_early, self.stop_reason)}"
            f"{_variant_note(self.fixed, self.tolerances, self.freed)}"
            f"# Target: {json.dumps({k: round(v, 2) for k, v in self.observed.items()})}\n"
            f"# The full posterior is posterior.csv beside this file: each replicate draws its parameters\n"
            f"# from it (`sim run --point-values` runs these medians instead).\n"
        )
        return calibrated_yaml(self.scenario.name, base or self.base_path, self.posterior, header)

    def save(self, out: str | Path) -> Path:
        """posterior.csv, posterior_summary.csv, <name>_calibrated.yaml, calibration.png, posterior.png."""

        from sim.plots import figures as plots

        out = Path(out)
        with atomic_folder(out) as tmp:
            self.posterior.to_csv(tmp / "posterior.csv", index=False, float_format="%.6g")
            self.summary().to_csv(tmp / "posterior_summary.csv", index=False, float_format="%.4f")
            base = os.path.relpath(self.base_path, out.resolve()) if self.base_path else None
            (tmp / f"{self.scenario.name}_calibrated.yaml").write_text(self.calibrated_yaml(base))
            save_figure(plots.posterior_figure(self), tmp / "posterior.png")
            self._calibration_figure(tmp)
            manifest = {
                "scenario": self.scenario.name,
                "seconds": round(self.seconds, 1),
                "generations": self.generations,
                "generations_asked": self.generations_asked or self.generations,
                "stopped_early": self.stopped_early,
                "reason": self.stop_reason,
                "population": self.population,
                "evaluations": self.evaluations,
                "effective_sample_size": [round(e, 1) for e in self.ess or []],
                "recheck": self.recheck,
                "fixed": self.fixed,
                "freed": {k: list(v) for k, v in self.freed.items()},
                "tolerances": {**abc_parts.TOLERANCES, **self.tolerances},
                "observed": self.observed,
            }
            write_json(tmp / "manifest.json", manifest)
        return out

    def _calibration_figure(self, folder: Path, runs: int = 200) -> None:
        """calibration.png: the calibrated ensemble's daily Goldstein band and timings over the record."""
        import datetime as dt

        import matplotlib.pyplot as plt

        from sim.analysis.eventdata import compare_events
        from sim.runner import run

        days = int(max(self.days, self.scenario.record.window[1] + 1 if self.scenario.record else 33))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "posterior.csv"
            self.posterior.to_csv(path, index=False)
            result = run(self.scenario, runs=runs, days=days, posterior=path)
            result.save(Path(tmp) / "run", data="csv")
            comparison = compare_events(Path(tmp) / "run", self.data_path)
        fig = comparison.plot()
        ax = fig.axes[0]
        start = self.scenario.start_date
        timings = {k: v for k, v in self.observed.items() if k.startswith("first_move.")}
        timings.update(
            {k: self.observed[k] for k in ("agreement_day", "resolution_day") if k in self.observed}
        )
        colors = ("#7b3294", "#008837", "#404040", "#e66101")
        for (key, day), color in zip(timings.items(), colors * 4, strict=False):
            label = key.removeprefix("first_move.").replace("_", " ")
            ax.axvline(
                start + dt.timedelta(days=int(day)), color=color, ls="--", lw=1, label=f"record: {label}"
            )
        ax.legend(fontsize=7, loc="lower right", ncols=2)
        ax.set_title(
            f"Calibrated {self.scenario.name} ({runs} runs drawn from the posterior) against its record",
            loc="left",
            fontsize=11,
        )
        fig.savefig(folder / "calibration.png", dpi=150, metadata={"Software": None})
        plt.close(fig)


def posterior_summary(posterior: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Median and 90% credible interval of each parameter, next to its prior range, and how far the
    posterior narrowed it (the 90% interval's width as a share of the prior's)."""
    rows = []
    w = posterior["weight"].to_numpy()
    for name in ranges:
        x = posterior[name].to_numpy()
        order = np.argsort(x)
        cdf = np.cumsum(w[order]) / w.sum()
        q = [float(x[order][min(np.searchsorted(cdf, p), len(x) - 1)]) for p in (0.05, 0.5, 0.95)]
        rows.append(
            {
                "parameter": name,
                "prior_low": ranges[name][0],
                "prior_high": ranges[name][1],
                "q05": q[0],
                "median": q[1],
                "q95": q[2],
                # the 90% interval's share of the prior range: 0.9 learnt nothing, small is well pinned
                "interval_share": (q[2] - q[0]) / (ranges[name][1] - ranges[name][0]),
            }
        )
    return pd.DataFrame(rows)


def _early_warning(stopped_early: bool, reason: str) -> str:
    """The YAML comment lines that say a calibration stopped early (none when it did not)."""
    if not stopped_early:
        return ""
    text = (
        f"STOPPED EARLY: {reason}. The posterior may be wider and less settled than a "
        "full calibration's; rerun with more --max-minutes or --generations."
    )
    return "".join(f"# {line}\n" for line in textwrap.wrap(text, 100))


def _variant_note(
    fixed: dict[str, float],
    tolerances: dict[str, float] | None = None,
    freed: dict[str, tuple[float, float]] | None = None,
) -> str:
    """The YAML comment lines naming the parameters held fixed or freed and the tolerances changed (none
    when the calibration ran as the defaults say)."""
    text = ""
    if freed:
        priors = ", ".join(
            f"{k.removeprefix('mechanisms.')} {lo:g} to {hi:g}" for k, (lo, hi) in freed.items()
        )
        text += f"Fitted besides the calibratable parameters (--free; uniform priors): {priors}. "
    if fixed:
        held = ", ".join(f"{k.removeprefix('mechanisms.')} = {v:g}" for k, v in fixed.items())
        text += f"Held fixed, not fitted (--fix; constant columns of posterior.csv): {held}. "
    if tolerances:
        text += "Tolerances changed (--tolerance): " + ", ".join(f"{k} {v:g}" for k, v in tolerances.items())
    return "".join(f"# {line}\n" for line in textwrap.wrap(text.strip(), 100))


def calibrated_yaml(name: str, base: str | None, posterior: pd.DataFrame, header: str) -> str:
    """A scenario that extends `base` with the posterior's point values and draws from posterior.csv."""
    mech: dict = {}
    roles: dict = {}
    for path, value in point_values(posterior).items():
        node = roles if path.startswith("roles.") else mech
        keys = path.removeprefix("mechanisms.").removeprefix("roles.").split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    body = {
        "name": f"{name}_calibrated",
        "extends": base,
        "description": f"{name} with its mechanism parameters calibrated to the record.",
        "mechanisms": mech,
        **({"roles": roles} if roles else {}),
        "posterior": "posterior.csv",
    }
    return header + yaml.safe_dump(body, sort_keys=False)


def calibrate(
    scenario: Scenario,
    base_path: str,
    data_path: str | Path | None = None,
    *,
    population: int = 200,
    generations: int = 6,
    runs: int = 40,
    seed: int | None = None,
    max_seconds: float = 480.0,
    progress: Callable[[str], None] | None = None,
    fixed: Mapping[str, float] | None = None,
    tolerances: Mapping[str, float] | None = None,
    freed: Mapping[str, object] | None = None,
) -> Calibration:
    """ABC-SMC of the free parameters against the scenario's record, for `generations` or `max_seconds`.

    `data_path` replaces the record's event file (same timings and phases). `max_seconds` is
    checked between generations (pyabc finishes the generation it is in). `progress` gets one
    line of text as each generation starts and ends. `fixed` holds free parameters at the values
    given instead of fitting them (`{"mechanisms.activity.crisis": 0.0}`): a model variant fitted
    as such, its values constant columns of the posterior. `tolerances` replaces the unit of misfit
    of some kinds of summary (`{"calm": 0.01}`; abc.TOLERANCES). `freed` fits parameters the schema
    does not mark calibratable over the uniform priors given (`{"mechanisms.bargaining.hurt_scale":
    (2, 30)}` or `"2:30"`; abc.check_freed).
    """
    population, generations, runs, max_seconds = _check_sizes(population, generations, runs, max_seconds)
    data_path = Path(data_path) if data_path is not None else locate(scenario)
    goal = targets(scenario, read_event_data(data_path, scenario))
    days = min(scenario.days, goal.window[1] + 8)
    freed = abc_parts.check_freed([scenario], freed or {})
    fixed = abc_parts.check_fixed([scenario], fixed or {})
    tolerances = abc_parts.check_tolerances(tolerances or {})
    ranges = abc_parts.free_parameters([scenario], fixed, freed)
    observed = abc_parts.observed_stats(scenario, goal, days)

    def simulate(params: dict[str, float], fresh: int = 0) -> dict[str, float]:
        return abc_parts.episode_stats(reseeded(scenario, fresh), goal, params, runs=runs, days=days)

    smc = _smc(
        simulate,
        observed,
        abc_parts.distance(observed, tolerances),
        ranges,
        population=population,
        generations=generations,
        runs=runs,
        seed=scenario.seed if seed is None else seed,
        max_seconds=max_seconds,
        say=progress or (lambda _line: None),
        fixed=fixed,
    )
    return Calibration(
        scenario,
        base_path,
        smc.posterior,
        observed,
        smc.seconds,
        smc.generations,
        population,
        smc.evaluations,
        str(data_path),
        days,
        smc.ess,
        generations,
        smc.reason,
        smc.stopped_early,
        recheck(
            smc.posterior,
            lambda params, fresh: abc_parts.misfit(observed, simulate(params, fresh), tolerances),
        ),
        fixed,
        tolerances,
        freed,
    )


RECHECKED = 5  # the heaviest particles run again after a calibration
FRESH_SEEDS = (1, 2)  # added to each scenario's seed for the fresh runs


def recheck(
    posterior: pd.DataFrame, distance_of: Callable[[dict[str, float], int], float], k: int = RECHECKED
) -> list[dict[str, float]]:
    """The `k` heaviest particles' distance as the fit measured it (`distance_of(params, 0)`: the
    scenarios' own seeds, as every evaluation had them) and on fresh runs (`distance_of(params, d)`
    for each d in FRESH_SEEDS: the seeds moved by d). Not counted in the calibration's evaluations
    or time.

    With noisy distances and weights resting on a few particles, ABC keeps the particles whose runs
    happened to fit best: on fresh runs their distance is larger. The two fresh seeds differ only by
    noise, so their difference is the scale against which the rise is read (the winner's curse;
    docs/model.md 8.1).
    """
    names = [c for c in posterior.columns if c != "weight"]
    out = []
    for _, row in posterior.sort_values("weight", ascending=False, kind="stable").head(k).iterrows():
        params = {n: float(row[n]) for n in names}
        entry = {"weight": float(row["weight"]), "distance": float(distance_of(params, 0))}
        for i, d in enumerate(FRESH_SEEDS, 1):
            entry[f"fresh_{i}"] = float(distance_of(params, d))
        out.append(entry)
    return out


def recheck_line(rows: list[dict[str, float]]) -> str:
    """One line: the heaviest particles' distance in the fit and on two sets of fresh runs."""
    if not rows:
        return ""
    fit = np.mean([r["distance"] for r in rows])
    fresh = [np.mean([r[f"fresh_{i}"] for r in rows]) for i in range(1, len(FRESH_SEEDS) + 1)]
    weight = sum(r["weight"] for r in rows)
    return (
        f"the {len(rows)} heaviest particles ({weight:.0%} of the weight), run again (unweighted means): "
        f"distance {fit:.2f} on the fit's own runs, {' and '.join(f'{x:.2f}' for x in fresh)} on fresh "
        "runs with two other seeds; a rise well beyond the two fresh ones' difference means the "
        "posterior rests on runs that happened to fit"
    )


def reseeded(scenario: Scenario, by: int) -> Scenario:
    """The scenario with its seed moved by `by` (within the seed's range): the recheck's fresh runs and
    the backtest's repeats."""
    return scenario if by == 0 else scenario.model_copy(update={"seed": (scenario.seed + by) % 2**63})


def _check_sizes(population, generations, runs, max_seconds) -> tuple[int, int, int, float]:
    """The sizes of a calibration, each checked (a one-line error naming its option)."""
    population = whole(population, "--population", low=2)
    generations = whole(generations, "--generations")
    runs = whole(runs, "--runs")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise UserError(f"expected a time above 0, found {max_seconds!r}", field="--max-minutes")
    return population, generations, runs, min(float(max_seconds), 1e9)  # 1e9 s: no cap, a valid Timedelta


@dataclass
class _SMC:
    """What one ABC-SMC run left: the weighted posterior and how the run went."""

    posterior: pd.DataFrame
    seconds: float
    generations: int
    evaluations: int
    ess: list[float]
    reason: str
    stopped_early: bool
    last_stats: list[dict]  # the summaries of the last generation's particles
    last_weights: np.ndarray


def _smc(
    simulate: Callable[[dict[str, float]], dict[str, float]],
    observed: dict[str, float],
    distance,
    ranges: dict[str, tuple[float, float]],
    *,
    population: int,
    generations: int,
    runs: int,
    seed: int,
    max_seconds: float,
    say: Callable[[str], None],
    fixed: Mapping[str, float] | None = None,
) -> _SMC:
    """ABC-SMC (pyabc) of the parameters in `ranges`: `simulate(params)` gives the summaries, `distance`
    compares them with `observed`; for `generations` or until `max_seconds` (checked between them).
    The `fixed` parameters join every evaluation's and the posterior's (as constant columns)."""
    import pyabc

    logging.getLogger("Sampler").setLevel(logging.WARNING)
    stops = _StopReasons()  # pyabc's "Stop: ..." line (INFO) says why it stopped
    names = {abc_parts.key(n): n for n in ranges}
    # each parameter is sampled as z with a standard logistic prior and used as lo + (hi - lo) sigmoid(z):
    # uniform over its range, and no proposal ever leaves it
    prior = pyabc.Distribution(**{k: pyabc.RV("logistic", 0.0, 1.0) for k in names})
    count = {"n": 0}

    held = dict(fixed or {})

    def model(parameters):
        count["n"] += 1
        free = {names[k]: abc_parts.from_z(float(v), ranges[names[k]]) for k, v in parameters.items()}
        return simulate({**held, **free})

    np.random.seed(seed % (2**32))
    abc = pyabc.ABCSMC(
        model,
        prior,
        distance,
        population_size=population,
        transitions=abc_parts.transition(names),
        sampler=pyabc.SingleCoreSampler(),
    )
    start = time.perf_counter()
    _report_generations(abc, say, generations, population, count, start)
    say(f"sampling {population} particles from the prior to scale the threshold ({runs} runs each)")
    with stops, tempfile.TemporaryDirectory() as tmp:
        abc.new(f"sqlite:///{tmp}/abc.db", observed)
        history = abc.run(max_nr_populations=generations, max_walltime=pd.Timedelta(seconds=max_seconds))
        seconds = time.perf_counter() - start
        if history.max_t < 0:
            raise UserError("no generation finished; try a larger --population", field="--population")
        frame, weights = history.get_distribution(m=0, t=history.max_t)
        ess = [
            float(pyabc.weighted_statistics.effective_sample_size(history.get_distribution(m=0, t=t)[1]))
            for t in range(history.max_t + 1)
        ]
        done = history.max_t + 1
        narrowing = _last_narrowing(history, ranges, names) if done >= 2 else None
        last_weights, last_stats = history.get_weighted_sum_stats(t=history.max_t)
    stopped_early, reason = _why_it_stopped(
        stops.reasons, done, generations, max_seconds, narrowing, ess[-1], len(frame)
    )
    posterior = pd.DataFrame(
        {n: [abc_parts.from_z(float(z), ranges[n]) for z in frame[k]] for k, n in names.items()}
    )
    for path, value in held.items():
        posterior[path] = value
    posterior["weight"] = np.asarray(weights) / np.sum(weights)
    return _SMC(
        posterior,
        seconds,
        done,
        count["n"],
        ess,
        reason,
        stopped_early,
        [dict(s) for s in last_stats],
        np.asarray(last_weights, dtype=float),
    )


SETTLED = 0.10  # settled: the last generation changed the 90% intervals by less than this on average


class _StopReasons(logging.Handler):
    """Collects pyabc's "Stop: ..." log lines (why the run ended)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reasons: list[str] = []
        self.logger = logging.getLogger("ABC")
        self.saved: list[tuple[logging.Handler, int]] = []

    def __enter__(self) -> _StopReasons:
        # pyabc prints its INFO lines through its own handler: keep those to warnings while we listen
        self.saved = [(h, h.level) for h in self.logger.handlers]
        for handler, level in self.saved:
            handler.setLevel(max(level, logging.WARNING))
        self.saved_level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved_level)
        for handler, level in self.saved:
            handler.setLevel(level)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Stop"):
            self.reasons.append(message.split(":", 1)[-1].strip().rstrip("."))


def _report_generations(abc, say: Callable[[str], None], total: int, population: int, count, start) -> None:
    """Wrap the run's generation step so each generation says when it starts and how it went."""
    step = abc.run_generation

    def run_generation(t: int) -> dict:
        say(f"generation {t + 1} of {total}: sampling {population} particles")
        before = count["n"]
        result = step(t=t)
        elapsed = time.perf_counter() - start
        if result.get("successful"):
            evaluations = count["n"] - before
            say(
                f"generation {t + 1} of {total} done: {population} accepted of {evaluations:,} "
                f"evaluations ({result['acceptance_rate']:.0%}), {elapsed:.0f} s in all"
            )
        else:
            say(f"generation {t + 1} of {total} failed to fill its population; stopping")
        return result

    abc.run_generation = run_generation


def _last_narrowing(history, ranges: dict[str, tuple[float, float]], names: dict[str, str]) -> float:
    """How much the posterior's 90% intervals shrank in the last generation (mean over parameters).

    The mean, not the largest change: one interval of a few hundred weighted
    particles moves by several percent from noise alone, thirteen of them
    averaged hardly do.
    """
    last, before = (history.get_distribution(m=0, t=t) for t in (history.max_t, history.max_t - 1))
    ratios = []
    for key, name in names.items():
        widths = [
            _interval_width(
                np.array([abc_parts.from_z(float(z), ranges[name]) for z in frame[key]]), np.asarray(w)
            )
            for frame, w in (before, last)
        ]
        ratios.append(widths[1] / max(widths[0], 1e-12))
    return float(1.0 - np.mean(ratios))


def _interval_width(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / w.sum()
    low, high = (x[order][min(np.searchsorted(cdf, p), len(x) - 1)] for p in (0.05, 0.95))
    return float(high - low)


def _why_it_stopped(
    reasons: list[str],
    done: int,
    asked: int,
    max_seconds: float,
    narrowing: float | None,
    ess: float | None = None,
    population: int | None = None,
) -> tuple[bool, str]:
    """(stopped early?, why), in words a reader can act on.

    Early: a time cap or another stop before the generations asked, or the last
    generation still narrowed the posterior by more than SETTLED. Settled or
    not, a last generation whose weights rest on few particles (an effective
    sample size under FEW_PARTICLES of the population) is said to be rough.
    """
    early, why = _stop_reason(reasons, done, asked, max_seconds, narrowing)
    if ess is not None and population and ess < FEW_PARTICLES * population:
        why += (
            f"; its weights rest on few particles (effective sample size {ess:.0f} of {population}), so "
            "read its intervals as rough"
        )
    return early, why


FEW_PARTICLES = 0.1  # an effective sample size under this share of the population is few


def _stop_reason(
    reasons: list[str], done: int, asked: int, max_seconds: float, narrowing: float | None
) -> tuple[bool, str]:
    said = reasons[-1] if reasons else ""
    if done < asked:
        if "walltime" in said.lower():
            cap = f"{max_seconds / 60:g} min" if max_seconds >= 60 else f"{max_seconds:g} s"
            return True, f"the time cap of {cap} was reached after {done} of {asked} generations"
        return True, f"pyabc stopped after {done} of {asked} generations ({said or 'no reason given'})"
    if narrowing is None:
        return True, f"it ran {done} generation, too few to tell whether the posterior has settled"
    if narrowing > SETTLED:
        return True, (
            f"it reached the maximum of {asked} generations while the posterior was still narrowing "
            f"(its 90% intervals shrank {narrowing:.0%} on average in the last generation; settled "
            f"means a change under {SETTLED:.0%})"
        )
    if narrowing < -SETTLED:  # widening: the weights moved to other particles, not a settled posterior
        return True, (
            f"it reached the maximum of {asked} generations while the posterior was still changing "
            f"(its 90% intervals widened {-narrowing:.0%} on average in the last generation; settled "
            f"means a change under {SETTLED:.0%})"
        )
    return False, (
        f"all {asked} generations ran and the posterior has settled (its 90% intervals changed "
        f"{-narrowing:+.0%} on average in the last generation)"
    )


# ------------------------------------------------------------------ one calibration across several episodes


@dataclass
class Episode:
    """One crisis of a joint calibration: its scenario, record and summaries."""

    scenario: Scenario
    base_path: str
    goal: Targets
    days: int
    observed: dict[str, float]

    @property
    def name(self) -> str:
        return self.scenario.name


def episode(scenario: Scenario, base_path: str = "") -> Episode:
    """An episode from a scenario with a record (its stances as the file gives them)."""
    goal = targets(scenario, read_event_data(locate(scenario), scenario))
    days = min(scenario.days, goal.window[1] + 8)
    return Episode(scenario, base_path, goal, days, abc_parts.observed_stats(scenario, goal, days))


def joint_stats(episodes: Sequence[Episode], params: dict[str, float], runs: int) -> dict[str, float]:
    """Every episode's summaries under the same shared parameters, as `episode:statistic`."""
    out: dict[str, float] = {}
    for ep in episodes:
        stats = abc_parts.episode_stats(ep.scenario, ep.goal, params, runs=runs, days=ep.days)
        out.update({f"{ep.name}:{k}": v for k, v in stats.items()})
    return out


def joint_observed(episodes: Sequence[Episode]) -> dict[str, float]:
    """Every episode's record summaries, as `episode:statistic`."""
    return {f"{ep.name}:{k}": v for ep in episodes for k, v in ep.observed.items()}


def episode_misfits(
    observed: dict[str, float], simulated: dict[str, float], tolerances: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each episode's distance (`abc.misfit` of its own summaries), from `episode:statistic` keys."""
    names = dict.fromkeys(k.split(":", 1)[0] for k in observed)
    return {
        name: abc_parts.misfit(
            {k.split(":", 1)[1]: v for k, v in observed.items() if k.startswith(f"{name}:")},
            {k.split(":", 1)[1]: v for k, v in simulated.items() if k.startswith(f"{name}:")},
            tolerances,
        )
        for name in names
    }


def joint_distance(
    simulated: dict[str, float], observed: dict[str, float], tolerances: Mapping[str, float] | None = None
) -> float:
    """The root mean square of the episodes' distances: each episode weighs the same, however many
    summaries its record supports."""
    misfits = np.array(list(episode_misfits(observed, simulated, tolerances).values()))
    return float(np.sqrt(np.mean(misfits**2)))


@dataclass
class JointCalibration:
    """The shared posterior of several episodes and what it does."""

    episodes: list[Episode]
    posterior: pd.DataFrame
    seconds: float
    generations: int
    population: int
    evaluations: int
    ess: list[float]
    generations_asked: int
    stop_reason: str
    stopped_early: bool
    misfits: dict[str, float]  # each episode's distance: weighted median over the last generation
    recheck: list[dict[str, float]] = field(default_factory=list)  # the heaviest particles run again
    fixed: dict[str, float] = field(default_factory=dict)  # held at these values, not fitted (--fix)
    tolerances: dict[str, float] = field(default_factory=dict)  # instead of abc.TOLERANCES' (--tolerance)
    freed: dict[str, tuple[float, float]] = field(default_factory=dict)  # fitted over these priors (--free)

    @property
    def names(self) -> list[str]:
        return [ep.name for ep in self.episodes]

    @property
    def label(self) -> str:
        return " + ".join(self.names)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return abc_parts.free_parameters([ep.scenario for ep in self.episodes], self.fixed, self.freed)

    def summary(self) -> pd.DataFrame:
        return posterior_summary(self.posterior, self.ranges)

    def point_values(self) -> dict[str, float]:
        return point_values(self.posterior)

    def lines(self) -> list[str]:
        """What the command prints: the posterior, each episode's fit and how the run went."""
        ess = ", ".join(f"{e:.0f}" for e in self.ess)
        out = [
            self.summary().to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            "",
            "each episode's distance (tolerance units, weighted median over the last generation):",
            *(f"  {name:<24} {value:.2f}" for name, value in self.misfits.items()),
            f"effective sample size per generation (of {self.population}): {ess}",
            f"{self.generations} of {self.generations_asked} generations, {self.evaluations} evaluations "
            f"({len(self.episodes)} episodes each), {self.seconds:.0f} s; {self.stop_reason}",
            *([recheck_line(self.recheck)] if self.recheck else []),
        ]
        if self.stopped_early:
            out.append(f"STOPPED EARLY: {self.stop_reason}")
        return out

    def save(self, out: str | Path) -> Path:
        """posterior.csv, posterior_summary.csv, point_values.yaml, <name>_calibrated.yaml for each
        episode, posterior.png and manifest.json, all or nothing."""
        from sim.plots import figures as plots

        out = Path(out)
        header = (
            f"# Calibrated by ABC-SMC (pyabc) jointly against the records of {', '.join(self.names)}:\n"
            f"# posterior medians of the shared parameters ({self.generations} generations, population "
            f"{self.population}, {self.evaluations} evaluations, {self.seconds:.0f} s); the stances are\n"
            f"# the base file's. Each replicate draws from posterior.csv beside this file.\n"
            f"{_early_warning(self.stopped_early, self.stop_reason)}"
            f"{_variant_note(self.fixed, self.tolerances, self.freed)}"
        )
        with atomic_folder(out) as tmp:
            self.posterior.to_csv(tmp / "posterior.csv", index=False, float_format="%.6g")
            self.summary().to_csv(tmp / "posterior_summary.csv", index=False, float_format="%.4f")
            for ep in self.episodes:
                base = os.path.relpath(ep.base_path, out.resolve()) if ep.base_path else ep.name
                text = calibrated_yaml(ep.name, base, self.posterior, header)
                (tmp / f"{ep.name}_calibrated.yaml").write_text(text)
            (tmp / "point_values.yaml").write_text(
                _early_warning(self.stopped_early, self.stop_reason)
                + yaml.safe_dump(self.point_values(), sort_keys=True)
            )
            save_figure(plots.posterior_figure(self), tmp / "posterior.png")
            manifest = {
                "episodes": self.names,
                "distance": "root mean square of the episodes' distances (each in tolerance units)",
                "seconds": round(self.seconds, 1),
                "generations": self.generations,
                "generations_asked": self.generations_asked,
                "stopped_early": self.stopped_early,
                "reason": self.stop_reason,
                "population": self.population,
                "evaluations": self.evaluations,
                "effective_sample_size": [round(e, 1) for e in self.ess],
                "episode_distance": {k: round(v, 3) for k, v in self.misfits.items()},
                "recheck": self.recheck,
                "fixed": self.fixed,
                "freed": {k: list(v) for k, v in self.freed.items()},
                "tolerances": {**abc_parts.TOLERANCES, **self.tolerances},
                "observed": {ep.name: ep.observed for ep in self.episodes},
            }
            write_json(tmp / "manifest.json", manifest)
        return out


def calibrate_joint(
    scenarios: Sequence[Scenario],
    base_paths: Sequence[str] | None = None,
    *,
    population: int = 200,
    generations: int = 6,
    runs: int = 40,
    seed: int | None = None,
    max_seconds: float = 480.0,
    progress: Callable[[str], None] | None = None,
    fixed: Mapping[str, float] | None = None,
    tolerances: Mapping[str, float] | None = None,
    freed: Mapping[str, object] | None = None,
) -> JointCalibration:
    """One ABC-SMC of the shared parameters against several episodes' records at once.

    The free parameters are the mechanism parameters the schema marks calibratable and the
    activity of every role any episode uses; each episode keeps its stances as its file gives
    them. The distance is the root mean square of the episodes' own distances (`joint_distance`),
    so each episode weighs the same. The seed is the first scenario's unless given. `fixed`,
    `tolerances` and `freed`: as in `calibrate`.
    """
    if not scenarios:
        raise UserError("expected at least one scenario with a record", field="scenarios")
    names = [sc.name for sc in scenarios]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"expected each episode once, found {', '.join(twice)} twice", field="scenarios")
    population, generations, runs, max_seconds = _check_sizes(population, generations, runs, max_seconds)
    paths = list(base_paths) if base_paths is not None else [""] * len(scenarios)
    episodes = [episode(sc, path) for sc, path in zip(scenarios, paths, strict=True)]
    freed = abc_parts.check_freed(list(scenarios), freed or {})
    fixed = abc_parts.check_fixed(list(scenarios), fixed or {})
    tolerances = abc_parts.check_tolerances(tolerances or {})
    ranges = abc_parts.free_parameters(list(scenarios), fixed, freed)
    observed = joint_observed(episodes)
    smc = _smc(
        lambda params: joint_stats(episodes, params, runs),
        observed,
        lambda simulated, observed: joint_distance(simulated, observed, tolerances),
        ranges,
        population=population,
        generations=generations,
        runs=runs,
        seed=scenarios[0].seed if seed is None else seed,
        max_seconds=max_seconds,
        say=progress or (lambda _line: None),
        fixed=fixed,
    )
    per_particle = [episode_misfits(observed, stats, tolerances) for stats in smc.last_stats]
    misfits = {
        name: weighted_median([m[name] for m in per_particle], list(smc.last_weights)) for name in names
    }
    return JointCalibration(
        episodes,
        smc.posterior,
        smc.seconds,
        smc.generations,
        population,
        smc.evaluations,
        smc.ess,
        generations,
        smc.reason,
        smc.stopped_early,
        misfits,
        recheck(
            smc.posterior,
            lambda params, fresh: joint_distance(
                joint_stats(
                    [dataclasses.replace(ep, scenario=reseeded(ep.scenario, fresh)) for ep in episodes],
                    params,
                    runs,
                ),
                observed,
                tolerances,
            ),
        ),
        fixed,
        tolerances,
        freed,
    )
