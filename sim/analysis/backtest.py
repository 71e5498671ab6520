"""Leave-one-episode-out backtests (`sim backtest`): calibrate on the others, forecast the one left out.

For each episode of the library: one joint calibration (`calibrate_joint`) on the other episodes,
then forecasts of the left-out episode from posterior draws, from its day 0 (the scenario as its
file gives it, without its scripted events after day 0: a forecast made on day 0 does not know
them) and from rolling origins k (the record's coded events of days 0..k-1 replayed as history,
`sim.analysis.replay`, the run starting on day k). Each forecast is scored over the record's window
from its origin on with proper scoring rules (`sim.analysis.scores`):

- CRPS of the daily Goldstein sum, over all days and over the days with recorded events, apart,
  with the coverage of the 90% band on each (a day without a recorded event counts as a sum of 0,
  which is true only if the record is complete: hence the event days apart);
- Brier score of P(armed clash) in the window and of P(agreement by day d) for d in AGREEMENT_BY;
- interval score and coverage of the 90% interval of each key timing still ahead (the agreement
  day, the record's dated first moves).

Two baselines: climatology (the training episodes' records pooled: their daily Goldstein sums,
their share with a clash and with a deal by day d, their timings) and persistence (the record so
far: the last observed day's sum carried forward, a clash or deal only if one has happened, no
timing before the horizon). Skill = 1 - score / baseline score, with a paired bootstrap interval.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis import scores
from sim.analysis.calibrate import JointCalibration, calibrate_joint, reseeded
from sim.analysis.fit import Simulated, simulate
from sim.analysis.replay import as_of
from sim.analysis.sensitivity import whole
from sim.ensemble.posterior import draw_posterior
from sim.errors import UserError
from sim.results.files import atomic_folder, save_figure, write_json
from sim.scenario.record import daily_sums, locate, own_events, read_event_data
from sim.scenario.schema import Scenario

AGREEMENT_BY = (7, 14, 21, 28)  # the days d of "P(agreement by day d)"
ORIGINS = (0, 3, 7, 14)
ALPHA = 0.1  # the timings' intervals are central 90% ones
METRICS = {
    "crps_all_days": "CRPS, daily Goldstein sum (all days)",
    "crps_event_days": "CRPS, daily Goldstein sum (days with recorded events)",
    "brier_clash": "Brier, P(armed clash)",
    "brier_agreement": "Brier, P(agreement by day d)",
    "interval_timings": "interval score, key timings (90%)",
}
FORECASTS = ("model", "climatology", "persistence")
REPEAT_SEED = 7  # repeat r of a backtest moves every episode's seed by r times this
UNIT = ["episode", "origin", "metric", "unit"]


@dataclass
class Truth:
    """What an episode's record says, on its own day axis."""

    scenario: Scenario
    data: pd.DataFrame
    window: int  # the record's last day
    daily: np.ndarray  # Goldstein sum of days 0..window
    events: np.ndarray  # coded events per day 0..window
    clash: bool
    agreement: float | None
    timings: dict[str, float]  # first moves and the agreement day the record dates

    @classmethod
    def of(cls, scenario: Scenario) -> Truth:
        record = scenario.record
        if record is None:
            raise UserError(
                "names no record (add a `record:` section) to backtest against", source=scenario.name
            )
        data = read_event_data(locate(scenario), scenario)
        last = int(record.window[1])
        # the scenario's actors' events, as in the calibration targets: the model has no others
        own = own_events(data, scenario)
        counts = np.bincount(own.loc[own["sim_day"] <= last, "sim_day"].to_numpy(int), minlength=last + 1)
        timings = {f"first_move.{k}": float(v.day) for k, v in record.first_moves.items()}
        if record.agreement_day is not None:
            timings["agreement_day"] = float(record.agreement_day)
        return cls(
            scenario,
            data,
            last,
            daily_sums(own, last + 1),
            counts[: last + 1],
            bool(record.clash),
            None if record.agreement_day is None else float(record.agreement_day),
            timings,
        )


@dataclass
class Backtest:
    """Every unit's scores, the skill table, and how each training calibration went."""

    units: pd.DataFrame  # episode, origin, metric, unit, model, climatology, persistence (+ covered_*)
    table: pd.DataFrame
    calibrations: dict[str, dict]  # left-out episode (and repeat) -> its training calibration's report
    settings: dict
    # with repeats: each repeat's pooled skill (repeat, metric, skill_vs_climatology, skill_vs_persistence)
    repeats: pd.DataFrame | None = None

    @property
    def stopped_early(self) -> list[str]:
        return [k for k, v in self.calibrations.items() if v["stopped_early"]]

    def lines(self) -> list[str]:
        out = []
        for name, cal in self.calibrations.items():
            flag = "STOPPED EARLY: " if cal["stopped_early"] else ""
            out.append(
                f"without {name}: calibrated on {', '.join(cal['episodes'])}; {cal['generations']} of "
                f"{cal['generations_asked']} generations, ESS {cal['ess']}; {flag}{cal['reason']}"
            )
        if self.repeats is not None:
            out.append(
                f"over {self.repeats['repeat'].nunique()} repeats (every seed moved by {REPEAT_SEED} per "
                "repeat; the table scores each unit's mean over them), pooled skill vs climatology / "
                "persistence in each repeat:"
            )
            for metric, part in self.repeats.groupby("metric", sort=False):
                cells = ", ".join(
                    f"{_signed(a)} / {_signed(b)}"
                    for a, b in zip(part["skill_vs_climatology"], part["skill_vs_persistence"], strict=True)
                )
                out.append(f"  {metric:<17} {cells}")
        return out

    def plot(self):
        from sim.plots import figures as plots

        return plots.backtest_figure(self.table, METRICS, self.settings)

    def save(self, out: str | Path) -> Path:
        """backtest.csv (the skill table), units.csv (every unit's scores), backtest.png, manifest.json."""
        out = Path(out)
        with atomic_folder(out) as tmp:
            self.table.to_csv(tmp / "backtest.csv", index=False, float_format="%.4f")
            self.units.to_csv(tmp / "units.csv", index=False, float_format="%.4f")
            if self.repeats is not None:
                self.repeats.to_csv(tmp / "repeats.csv", index=False, float_format="%.4f")
            save_figure(self.plot(), tmp / "backtest.png")
            write_json(
                tmp / "manifest.json",
                {
                    **self.settings,
                    "calibrations": self.calibrations,
                    "stopped_early": self.stopped_early,
                    "metrics": METRICS,
                    "skill": "1 - mean score / mean baseline score; 95% paired bootstrap interval over units",
                    "coverage": "share of units inside the forecast's central 90% interval",
                },
            )
        return out


def backtest(
    scenarios: Sequence[Scenario],
    *,
    population: int = 40,
    generations: int = 3,
    runs: int = 20,
    max_seconds: float = 480.0,
    forecast_runs: int = 200,
    origins: Sequence[int] = ORIGINS,
    repeats: int = 1,
    fixed: Mapping[str, float] | None = None,
    tolerances: Mapping[str, float] | None = None,
    freed: Mapping[str, object] | None = None,
    refit: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Backtest:
    """Leave each episode out in turn: calibrate on the others, forecast it, score the forecasts.

    With `repeats` above 1 the whole backtest runs again with every episode's seed moved (REPEAT_SEED
    per repeat): small training fits differ from seed to seed by more than two versions of the model
    may (docs/model.md 8.4), so the table scores each unit's mean over the repeats and `repeats` keeps
    each repeat's pooled skill, the spread a comparison has to beat. `fixed`, `tolerances` and `freed`
    shape each training fit as in `calibrate_joint`, so the backtest scores the calibration shipped.
    `refit` makes each training fit two stages, as the library's fit T was (docs/model.md 8.4): the
    first as above, then these parameters fitted again with every other one held at the first stage's
    point values, so the held-out episode stays out of both.
    """
    if len(scenarios) < 2:
        raise UserError(
            "expected at least two scenarios (one to leave out, the others to fit)", field="scenarios"
        )
    forecast_runs = whole(forecast_runs, "--forecast-runs", low=2)
    origins = sorted({whole(k, "--origins", low=0) for k in origins})
    repeats = whole(repeats, "--repeats", low=1)
    say = progress or (lambda _line: None)
    refit = check_refit(scenarios, refit, fixed or {}, freed or {})
    truths = {sc.name: Truth.of(sc) for sc in scenarios}
    if len(truths) < len(scenarios):
        raise UserError("expected each episode once", field="scenarios")
    rows: list[dict] = []
    calibrations: dict[str, dict] = {}
    for r in range(repeats):
        moved = [reseeded(sc, r * REPEAT_SEED) for sc in scenarios]
        for held in moved:
            name = held.name if r == 0 else f"{held.name} (repeat {r})"
            train = [sc for sc in moved if sc.name != held.name]
            say(f"leaving out {name}: calibrating on {', '.join(sc.name for sc in train)}")
            fit = partial(
                calibrate_joint,
                train,
                population=population,
                generations=generations,
                runs=runs,
                max_seconds=max_seconds,
                tolerances=tolerances,
            )
            cal = fit(
                progress=lambda line, name=name: say(f"without {name}: {line}"), fixed=fixed, freed=freed
            )
            calibrations[name] = _report(cal)
            if refit:
                first = cal
                say(f"without {name}: second stage, {', '.join(refit)} fitted again, the rest held")
                cal = fit(
                    progress=lambda line, name=name: say(f"without {name}, second stage: {line}"),
                    fixed=held_at_first_stage(first, refit),
                    freed={k: v for k, v in (freed or {}).items() if k in refit},
                )
                calibrations[name] = {**_report(cal), "first_stage": calibrations[name]}
            draws = _draws(cal, held, forecast_runs)
            truth = truths[held.name]
            pool = [truths[sc.name] for sc in train]
            for k in (k for k in origins if k <= truth.window and k < held.days):
                say(f"forecasting {name} from day {k} ({forecast_runs} runs)")
                scored = _score(truth, pool, k, draws, forecast_runs)
                rows += [{**row, "repeat": r} for row in scored] if repeats > 1 else scored
    units = pd.DataFrame(rows)
    settings = {
        "episodes": [sc.name for sc in scenarios],
        "population": population,
        "generations": generations,
        "runs_per_evaluation": runs,
        "max_seconds": max_seconds,
        "forecast_runs": forecast_runs,
        "origins": origins,
        "repeats": repeats,
        "fixed": dict(fixed or {}),
        "tolerances": dict(tolerances or {}),
        "freed": dict(freed or {}),
        "refit": list(refit),
        "agreement_by": list(AGREEMENT_BY),
        "replay": "rolling origin k: the record's coded events of days 0..k-1 replayed as history "
        "(sim.analysis.replay); scripted events after the origin dropped",
    }
    if repeats == 1:
        return Backtest(units, skill_table(units), calibrations, settings)
    per_repeat = pd.concat(
        [
            skill_table(part).query("episode == 'pooled'").assign(repeat=r)
            for r, part in units.groupby("repeat", sort=True)
        ]
    )[["repeat", "metric", "skill_vs_climatology", "skill_vs_persistence"]]
    return Backtest(units, skill_table(mean_over_repeats(units)), calibrations, settings, per_repeat)


def check_refit(
    scenarios: Sequence[Scenario],
    refit: Sequence[str],
    fixed: Mapping[str, object],
    freed: Mapping[str, object],
) -> list[str]:
    """The second stage's parameters: each fitted in the first stage, every `freed` one among them (a
    parameter the calibration otherwise holds has no held value to return to); else a one-line error."""
    from sim.analysis.abc import check_freed, free_parameters

    refit = list(dict.fromkeys([refit] if isinstance(refit, str) else refit))  # one name, or several
    if not refit:
        return []
    fitted = free_parameters(scenarios, fixed, check_freed(scenarios, freed))
    for path in refit:
        if path not in fitted:
            raise UserError(
                f"expected a parameter the first stage fits (not held by --fix), found '{path}'",
                field="--refit",
            )
    left = sorted(set(freed) - set(refit))
    if left:
        raise UserError(
            f"expected every --free parameter refitted too, missing {', '.join(left)}", field="--refit"
        )
    return refit


def held_at_first_stage(first: JointCalibration, refit: Sequence[str]) -> dict[str, float]:
    """Every parameter of the first stage's posterior but `refit`, at its point value (two significant
    digits, as a scenario carries it), kept inside its prior."""
    out = {}
    for path, value in first.point_values().items():
        if path in refit:  # every freed parameter among them (check_refit)
            continue
        lo, hi = first.ranges.get(path, (value, value))
        out[path] = min(max(value, lo), hi)
    return out


def _signed(value: float) -> str:
    return "n/a" if value != value else f"{value:+.2f}"  # NaN: a baseline that scored perfectly


def mean_over_repeats(units: pd.DataFrame) -> pd.DataFrame:
    """Each unit's scores (and coverage) averaged over the repeats: the forecast of the repeats' training
    fits taken together."""
    values = [c for c in units.columns if c not in (*UNIT, "repeat")]
    return units.groupby(UNIT, sort=False)[values].mean().reset_index()


def _report(cal: JointCalibration) -> dict:
    return {
        "episodes": cal.names,
        "generations": cal.generations,
        "generations_asked": cal.generations_asked,
        "evaluations": cal.evaluations,
        "ess": [round(e, 1) for e in cal.ess],
        "stopped_early": cal.stopped_early,
        "reason": cal.stop_reason,
        "episode_distance": {k: round(v, 3) for k, v in cal.misfits.items()},
        "point_values": cal.point_values(),
    }


def _draws(cal: JointCalibration, scenario: Scenario, runs: int) -> dict[str, np.ndarray]:
    """Each forecast replicate's parameters, drawn from the training posterior (as `sim run` draws)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posterior.csv"
        cal.posterior.to_csv(path, index=False)
        return draw_posterior(path, np.arange(runs), scenario.seed)


def _simulated_timings(sim: Simulated, truth: Truth, origin: int) -> dict[str, np.ndarray]:
    """Each run's day (on the episode's own axis) of every timing the record dates; never: the horizon."""
    ev, runs = sim.events, sim.runs
    horizon = float(origin + sim.days)
    out = {}
    record = truth.scenario.record
    for name, spec in record.first_moves.items():
        actor = sim.actor_ids.index(spec.actor)
        hit = ev[(ev[:, 2] == actor) & np.isin(ev[:, 4], [sim.moves.index(m) for m in spec.moves])]
        day = np.full(runs, horizon)
        np.minimum.at(day, hit[:, 0], hit[:, 1].astype(float) + origin)
        out[f"first_move.{name}"] = day
    out["agreement_day"] = _agreement(sim) + origin
    return out


def _agreement(sim: Simulated) -> np.ndarray:
    """Each run's deal day (both principals signed), or its horizon."""
    ev, runs = sim.events, sim.runs
    if sim.settle_move < 0 or sim.principals[0] < 0:
        return np.full(runs, float(sim.days))
    signed = np.full((runs, 2), np.inf)
    for q in range(2):
        hit = ev[(ev[:, 4] == sim.settle_move) & (ev[:, 2] == sim.principals[q])]
        np.minimum.at(signed[:, q], hit[:, 0], hit[:, 1].astype(float))
    both = signed.max(axis=1)
    return np.where(np.isfinite(both), both, float(sim.days))


def _score(truth: Truth, pool: list[Truth], origin: int, draws: dict, runs: int) -> list[dict]:
    """Every unit's score for one episode forecast from one origin: model and both baselines."""
    held = truth.scenario
    replay = as_of(held, truth.data, origin)
    sim = simulate(replay.scenario, runs, batch=draws, posterior=False)
    last = truth.window
    span = last - origin + 1  # days origin..last
    daily = np.zeros((runs, sim.days))
    np.add.at(daily, (sim.events[:, 0], sim.events[:, 1]), sim.goldstein[sim.events[:, 4]])
    daily = daily[:, :span]
    observed = truth.daily[origin:]
    climate = np.concatenate([t.daily for t in pool])
    last_seen = truth.daily[origin - 1] if origin > 0 else 0.0
    base = {"episode": held.name, "origin": origin}
    rows = []

    def add(metric: str, unit, model: float, clim: float, pers: float, **extra) -> None:
        rows.append({**base, "metric": metric, "unit": unit, "model": model, "climatology": clim,
                     "persistence": pers, **extra})  # fmt: skip

    crps_model = scores.crps(observed, daily.T)
    crps_clim = scores.crps(observed, np.broadcast_to(climate, (span, len(climate))))
    crps_pers = scores.crps(observed, np.full(span, last_seen))
    recorded = truth.events[origin:] > 0
    # and whether each day's observed sum lies inside the 90% band (all days and event days apart)
    bands = {
        "model": np.quantile(daily, [ALPHA / 2, 1 - ALPHA / 2], axis=0),
        "climatology": np.quantile(climate, [ALPHA / 2, 1 - ALPHA / 2])[:, None].repeat(span, axis=1),
        "persistence": np.full((2, span), last_seen),
    }
    inside = {f"covered_{k}": scores.covered(observed, lo, hi) for k, (lo, hi) in bands.items()}
    for j in range(span):
        day = origin + j
        band = {k: float(v[j]) for k, v in inside.items()}
        add("crps_all_days", day, crps_model[j], crps_clim[j], crps_pers[j], **band)
        if recorded[j]:
            add("crps_event_days", day, crps_model[j], crps_clim[j], crps_pers[j], **band)
    # armed clash in the window: known if the replayed past holds one
    clash_moves = [n for n, m in enumerate(sim.moves) if held.moves[m].clash]
    past = [e for e in replay.scenario.history if e.label == "replayed from the record"]
    known = any(held.moves[e.move].clash for e in past)
    ev = sim.events[(sim.events[:, 1] < span) & np.isin(sim.events[:, 4], clash_moves)]
    p_model = 1.0 if known else len(np.unique(ev[:, 0])) / runs
    p_clim = 1.0 if known else float(np.mean([t.clash for t in pool]))
    outcome = float(truth.clash)
    add("brier_clash", "clash", *(float(scores.brier(outcome, p)) for p in (p_model, p_clim, float(known))))
    # agreement by day d
    deal = _agreement(sim) + origin
    done = truth.agreement is not None and truth.agreement < origin
    for d in (d for d in AGREEMENT_BY if origin <= d <= last):
        outcome = float(truth.agreement is not None and truth.agreement <= d)
        p_model = 1.0 if done else float(np.mean(deal <= d))
        p_clim = 1.0 if done else float(np.mean([t.agreement is not None and t.agreement <= d for t in pool]))
        add(
            "brier_agreement",
            f"by day {d}",
            *(float(scores.brier(outcome, p)) for p in (p_model, p_clim, done)),
        )
    # key timings still ahead: the 90% interval of each
    horizon = float(held.days)
    simulated = _simulated_timings(sim, truth, origin)
    for name, day in truth.timings.items():
        if day < origin:
            continue
        kind = "agreement_day" if name == "agreement_day" else "first_move"
        past_values = [v for t in pool for k, v in t.timings.items() if k.startswith(kind)]
        clim = np.clip(np.array(past_values or [origin, horizon]), origin, horizon)
        bounds = {
            "model": np.quantile(simulated[name], [ALPHA / 2, 1 - ALPHA / 2]),
            "climatology": np.quantile(clim, [ALPHA / 2, 1 - ALPHA / 2]),
            "persistence": np.array([horizon, horizon]),
        }
        values = {k: float(scores.interval(day, lo, hi, ALPHA)) for k, (lo, hi) in bounds.items()}
        inside = {f"covered_{k}": float(scores.covered(day, lo, hi)) for k, (lo, hi) in bounds.items()}
        add("interval_timings", name, values["model"], values["climatology"], values["persistence"], **inside)
    return rows


def skill_table(units: pd.DataFrame) -> pd.DataFrame:
    """Mean scores and skill against each baseline (with 95% bootstrap intervals): per episode and
    origin, per episode over its origins ("all"), and pooled over every episode and origin."""
    groups = []
    for (ep, origin, metric), part in units.groupby(["episode", "origin", "metric"], sort=False):
        groups.append((ep, str(origin), metric, part))
    for (ep, metric), part in units.groupby(["episode", "metric"], sort=False):
        groups.append((ep, "all", metric, part))
    for metric, part in units.groupby("metric", sort=False):
        groups.append(("pooled", "all", metric, part))
    rows = []
    for n, (ep, origin, metric, part) in enumerate(groups):
        row = {"episode": ep, "origin": origin, "metric": metric, "units": len(part)}
        for k in FORECASTS:
            row[k] = float(part[k].mean())
        for baseline in ("climatology", "persistence"):
            row[f"skill_vs_{baseline}"] = scores.skill(part["model"].to_numpy(), part[baseline].to_numpy())
            low, high = scores.skill_interval(part["model"].to_numpy(), part[baseline].to_numpy(), seed=n)
            row[f"skill_vs_{baseline}_low"], row[f"skill_vs_{baseline}_high"] = low, high
        if "covered_model" in part and part["covered_model"].notna().any():
            for k in FORECASTS:
                row[f"coverage_{k}"] = float(part[f"covered_{k}"].mean())
        rows.append(row)
    return pd.DataFrame(rows)
