"""Calibration against the dated record by approximate Bayesian computation (pyabc's ABC-SMC).

The target is made of what the 2021 record supports (docs/model.md, section
8): the day of the first Serbian alert, the day of peak tension, the day of
the mediated agreement, the day the standing postures end, the share of runs
with an armed clash, and the mean daily Goldstein sum of each phase of the
crisis. The free parameters are those the schema marks calibratable, with
uniform priors over their ranges; the result is a posterior, not one point.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.analysis.eventdata import read_event_data
from sim.analysis.sensitivity import calibratable, whole
from sim.errors import UserError
from sim.model.model import CrisisModel
from sim.results.files import atomic_folder, save_figure, write_json
from sim.results.outcomes import classify
from sim.scenario.schema import Scenario

# Phases of the 2021 crisis (kosovo_2021_chronology.md): (name, first day, last day)
PHASES = (
    ("onset", 0, 2),
    ("signalling", 3, 6),
    ("intervention", 7, 10),
    ("implementation", 11, 14),
    ("aftermath", 15, 32),
)
TIMINGS = ("first_alert_day", "peak_day", "agreement_day", "resolution_day")
TRANSITION_SCALING = 2.0


def observed_summary(data: pd.DataFrame, record: dict[str, float]) -> dict[str, float]:
    """The target: dated timings from the record and the mean daily Goldstein sum per phase."""
    out = dict(record)
    for name, first, last in PHASES:
        days = last - first + 1
        part = data[(data["sim_day"] >= first) & (data["sim_day"] <= last)]
        out[f"goldstein_{name}"] = float(part["goldstein"].sum()) / days
    return out


RECORD_2021 = {  # kosovo_2021_chronology.md: "Published figures usable as calibration targets"
    "first_alert_day": 3.0,  # Serbia raises combat readiness (B10)
    "peak_day": 5.0,  # most hostile days 0-6; the arson, jets and the wider alert fall on days 5-6
    "agreement_day": 10.0,  # the Brussels deal (B39)
    "resolution_day": 12.0,  # ROSU and roadblocks gone (B42)
    "p_clash": 0.0,  # no armed clash
}


def simulated_summary(
    scenario: Scenario, params: dict[str, float], *, runs: int, days: int
) -> dict[str, float]:
    """The same quantities from `runs` replicates (medians of timings, mean of the rest)."""
    model = CrisisModel(
        scenario, replicates=runs, days=days, batch={k: np.full(runs, v) for k, v in params.items()}
    )
    model.run()
    rec, spec = model.recorder, model.spec
    ev = rec.event_table()
    ids, mv = spec.actor_ids, spec.moves
    serbia = ids.index("serbia") if "serbia" in ids else -1
    alert = mv.index("raise_alert")
    sign = mv.index("sign_agreement")
    first_alert = np.full(runs, float(days))
    signed: dict[tuple[int, int], int] = {}
    for r, day, actor, _target, move, _kind in ev:
        if actor == serbia and move == alert and day < first_alert[r]:
            first_alert[r] = day
        if move == sign and (r, actor) not in signed:
            signed[(r, actor)] = day
    agreement = np.full(runs, float(days))
    for r in range(runs):
        days_signed = sorted(d for (rr, _), d in signed.items() if rr == r)
        if len(days_signed) >= 2:
            agreement[r] = days_signed[1]
    o = classify(
        rec.tension, rec.settled, model.state.clashed, int(scenario.mechanisms.outcome.resolution_window)
    )
    resolution = np.where(o["outcome"] == 0, o["resolution_day"], days).astype(float)
    daily = np.zeros((runs, days))
    np.add.at(daily, (ev[:, 0], ev[:, 1]), mv.goldstein[ev[:, 4]])
    out = {
        "first_alert_day": float(np.median(first_alert)),
        "peak_day": float(np.median(o["peak_day"])),
        "agreement_day": float(np.median(agreement)),
        "resolution_day": float(np.median(resolution)),
        "p_clash": float(np.mean(o["outcome"] == 2)),
    }
    for name, first, last in PHASES:
        out[f"goldstein_{name}"] = (
            float(daily[:, first : min(last, days - 1) + 1].mean()) if first < days else 0.0
        )
    return out


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

    def summary(self) -> pd.DataFrame:
        """Median and 90% credible interval of each parameter, next to its prior range."""
        ranges = calibratable(self.scenario)
        rows = []
        w = self.posterior["weight"].to_numpy()
        for name in ranges:
            x = self.posterior[name].to_numpy()
            order = np.argsort(x)
            cdf = np.cumsum(w[order]) / w.sum()
            q = [float(x[order][np.searchsorted(cdf, p)]) for p in (0.05, 0.5, 0.95)]
            rows.append(
                {
                    "parameter": name,
                    "prior_low": ranges[name][0],
                    "prior_high": ranges[name][1],
                    "q05": q[0],
                    "median": q[1],
                    "q95": q[2],
                    "narrowing": (q[2] - q[0]) / (ranges[name][1] - ranges[name][0]),
                }
            )
        return pd.DataFrame(rows)

    def calibrated_yaml(self, base: str | None = None) -> str:
        """A scenario that extends the base with the posterior medians, saying how it was fitted."""
        s = self.summary()
        mech: dict = {}
        for name, value in zip(s["parameter"], s["median"], strict=True):
            node = mech
            keys = name.removeprefix("mechanisms.").split(".")
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = round(float(value), 4)
        text = (
            f"STOPPED EARLY: {self.stop_reason}. The posterior may be wider and less settled than a "
            "full calibration's; rerun with more --max-minutes or --generations."
        )
        warning = "".join(f"# {line}\n" for line in textwrap.wrap(text, 100)) if self.stopped_early else ""
        header = (
            f"# Calibrated by ABC-SMC (pyabc) against the 2021 record: posterior medians of the\n"
            f"# calibratable parameters ({self.generations} generations, population {self.population}, "
            f"{self.evaluations} model evaluations, {self.seconds:.0f} s).\n"
            f"{warning}"
            f"# Target: {json.dumps({k: round(v, 2) for k, v in self.observed.items()})}\n"
            f"# The full posterior is posterior.csv beside this file; `sim run --posterior posterior.csv`\n"
            f"# draws each replicate's parameters from it.\n"
        )
        body = {
            "name": f"{self.scenario.name}_calibrated",
            "extends": base or self.base_path,
            "description": f"{self.scenario.name} with its mechanism parameters calibrated to the record.",
            "mechanisms": mech,
        }
        return header + yaml.safe_dump(body, sort_keys=False)

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
                "observed": self.observed,
            }
            write_json(tmp / "manifest.json", manifest)
        return out

    def _calibration_figure(self, folder: Path, runs: int = 200) -> None:
        """calibration.png: the calibrated ensemble's daily Goldstein band and timings over the record."""
        import matplotlib.pyplot as plt

        from sim.analysis.eventdata import compare_events
        from sim.runner import run

        days = int(max(self.days, 33))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "posterior.csv"
            self.posterior.to_csv(path, index=False)
            result = run(self.scenario, runs=runs, days=days, posterior=path)
            result.save(Path(tmp) / "run", data="csv")
            comparison = compare_events(Path(tmp) / "run", self.data_path)
        fig = comparison.plot()
        ax = fig.axes[0]
        start = self.scenario.start_date
        import datetime as dt

        for key, color in (
            ("first_alert_day", "#7b3294"),
            ("agreement_day", "#008837"),
            ("resolution_day", "#404040"),
        ):
            ax.axvline(
                start + dt.timedelta(days=int(self.observed[key])),
                color=color,
                ls="--",
                lw=1,
                label=f"record: {key.replace('_', ' ')}",
            )
        ax.legend(fontsize=7, loc="lower right", ncols=2)
        ax.set_title(
            f"Calibrated {self.scenario.name} ({runs} runs drawn from the posterior) against the 2021 record",
            loc="left",
            fontsize=11,
        )
        fig.savefig(folder / "calibration.png", dpi=150, metadata={"Software": None})
        plt.close(fig)


def calibrate(
    scenario: Scenario,
    base_path: str,
    data_path: str | Path,
    *,
    population: int = 200,
    generations: int = 6,
    runs: int = 40,
    days: int = 33,
    seed: int | None = None,
    max_seconds: float = 480.0,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """ABC-SMC over the calibratable parameters; stops after `generations` or `max_seconds`.

    `max_seconds` is checked between generations (pyabc finishes the generation
    it is in). `progress` gets one line of text as each generation starts and ends.
    """
    import pyabc

    population = whole(population, "--population", low=2)
    generations = whole(generations, "--generations")
    runs = whole(runs, "--runs")
    days = whole(days, "--days")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise UserError(f"expected a time above 0, found {max_seconds!r}", field="--max-minutes")
    max_seconds = min(float(max_seconds), 1e9)  # 30 years: no cap, and still a valid Timedelta
    say = progress or (lambda _line: None)
    logging.getLogger("Sampler").setLevel(logging.WARNING)
    stops = _StopReasons()  # pyabc's "Stop: ..." line (INFO) says why it stopped
    ranges = calibratable(scenario)
    data = read_event_data(data_path, scenario.model_copy(update={"days": max(days, scenario.days)}))
    observed = observed_summary(data, RECORD_2021)
    prior = pyabc.Distribution(
        **{_key(n): pyabc.RV("uniform", lo, hi - lo) for n, (lo, hi) in ranges.items()}
    )
    names = {_key(n): n for n in ranges}
    count = {"n": 0}

    def model(parameters):
        count["n"] += 1
        return simulated_summary(
            scenario, {names[k]: float(v) for k, v in parameters.items()}, runs=runs, days=days
        )

    seed = scenario.seed if seed is None else seed
    np.random.seed(seed % (2**32))
    # A wide kernel (twice the particles' spread) keeps the importance weights even in 13
    # dimensions; with Silverman's default bandwidth a few particles took all the weight.
    abc = pyabc.ABCSMC(
        model,
        prior,
        pyabc.AdaptivePNormDistance(p=2),
        population_size=population,
        transitions=pyabc.MultivariateNormalTransition(scaling=TRANSITION_SCALING),
        sampler=pyabc.SingleCoreSampler(),
    )
    start = time.perf_counter()
    _report_generations(abc, say, generations, population, count, start)
    say(f"sampling {population} particles from the prior to scale the distance ({runs} runs each)")
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
        narrowing = _last_narrowing(history, names) if done >= 2 else None
    stopped_early, reason = _why_it_stopped(stops.reasons, done, generations, max_seconds, narrowing)
    posterior = frame.rename(columns=names).reset_index(drop=True)
    posterior["weight"] = np.asarray(weights)
    return Calibration(
        scenario,
        base_path,
        posterior,
        observed,
        seconds,
        done,
        population,
        count["n"],
        str(data_path),
        days,
        ess,
        generations,
        reason,
        stopped_early,
    )


SETTLED = 0.10  # settled: the last generation shrank the 90% intervals by less than this on average


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


def _last_narrowing(history, names: dict[str, str]) -> float:
    """How much the posterior's 90% intervals shrank in the last generation (mean over parameters).

    The mean, not the largest change: one interval of a few hundred weighted
    particles moves by several percent from noise alone, thirteen of them
    averaged hardly do.
    """
    last, before = (history.get_distribution(m=0, t=t) for t in (history.max_t, history.max_t - 1))
    ratios = []
    for key in names:
        widths = [_interval_width(frame[key].to_numpy(), np.asarray(w)) for frame, w in (before, last)]
        ratios.append(widths[1] / max(widths[0], 1e-12))
    return float(1.0 - np.mean(ratios))


def _interval_width(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / w.sum()
    low, high = (x[order][min(np.searchsorted(cdf, p), len(x) - 1)] for p in (0.05, 0.95))
    return float(high - low)


def _why_it_stopped(
    reasons: list[str], done: int, asked: int, max_seconds: float, narrowing: float | None
) -> tuple[bool, str]:
    """(stopped early?, why), in words a reader can act on.

    Early: a time cap or another stop before the generations asked, or the last
    generation still narrowed the posterior by more than SETTLED.
    """
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
            f"means under {SETTLED:.0%})"
        )
    return False, (
        f"all {asked} generations ran and the posterior has settled (its 90% intervals changed "
        f"{-narrowing:+.0%} on average in the last generation)"
    )


def _key(name: str) -> str:
    return name.removeprefix("mechanisms.").replace(".", "__")
