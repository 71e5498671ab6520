"""Why did it escalate? Utility terms of a choice, and who drove each dyad's tension.

A run folder holds the resolved scenario (`scenario.yaml`) and its seed, and
every replicate is reproducible on its own, so any run can be replayed by the
plain reference implementation (which the fast engine matches run for run)
and inspected day by day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.runfolder import open_run_folder
from sim.errors import UserError
from sim.model.mechanisms import TERMS
from sim.model.reference import RATE_PARTS, ReferenceModel
from sim.scenario.loader import with_overrides
from sim.scenario.schema import Scenario


def replay(
    scenario: Scenario, replicate: int, until_day: int, drivers: bool = False, posterior: Path | None = None
) -> ReferenceModel:
    """The reference model of one replicate, stepped to the start of `until_day`.

    With the run's `posterior`, the replicate gets the parameters it drew from it.
    """
    if posterior is not None:
        from sim.ensemble.posterior import draw_posterior

        drawn = draw_posterior(posterior, np.array([replicate]), scenario.seed, scenario)
        scenario = with_overrides(scenario, {k: float(v[0]) for k, v in drawn.items()})
    model = ReferenceModel(scenario, replicate=replicate)
    if drivers:
        model.track_drivers()
    while model.running and model.day < until_day:
        model.step()
    return model


NO_MOVE = "(no move today)"  # stage 1 of the choice: the actor may not act at all


@dataclass
class Explanation:
    """One actor's options on one day of one run, each utility split into its named terms."""

    scenario: str
    run: int
    day: int
    date: str
    actor: str
    table: pd.DataFrame  # one row per option: terms, utility, probability, allowed
    # stage 1, how many moves today (docs/model.md 7.2): the expected count and its three parts, which
    # add up to it: at rest ("base"), roused by dissatisfaction and crisis ("arousal"), and answering the
    # moves lately directed at the actor ("answering")
    rate: dict[str, float] = field(default_factory=dict)
    # before any of that (docs/model.md 7.5): the blocking postures the actor may end today by carrying
    # out a deal or because its demand has been met, each {posture, target, move, chance, why}; if it
    # ends one, that is its move today and the options above do not apply
    ending: list[dict] = field(default_factory=list)

    def lines(self, top: int = 12) -> list[str]:
        shown = self.table.head(top).drop(columns="allowed")
        signed = dict.fromkeys((*TERMS, "utility", "goldstein"), lambda v: f"{v:+.2f}")
        text = shown.to_string(
            index=False, formatters={**signed, "probability": lambda v: f"{v:.3f}"}, na_rep="n/a"
        )
        lines = [
            f"{self.actor} on day {self.day} ({self.date}) of run {self.run} in {self.scenario}: the utility "
            "of each option split into the mechanisms' terms (n/a: not allowed that day)",
            text,
        ]
        if self.rate:
            r = self.rate
            no_move = float(self.table.loc[self.table["move"] == NO_MOVE, "probability"].iloc[0])
            lines.append(
                f"moves expected today {r['total']:.3f} (P(no move) {no_move:.3f}): at rest "
                f"{r['base']:.3f} + aroused by dissatisfaction and crisis {r['arousal']:.3f} + answering "
                f"moves directed at {self.actor} {r['answering']:.3f}"
            )
        for e in self.ending:
            lines.append(
                f"before choosing: {e['why']}, {self.actor} ends '{e['posture']}' against {e['target']} "
                f"({e['move']}) with chance {e['chance']:.3f}; if it does, that is its move today"
            )
        return lines


def explain(
    run_dir: str | Path, *, run: int | None = None, actor: str | None = None, day: int | None = None
) -> Explanation:
    """Split the utility of each of an actor's options on a day into the mechanisms' terms.

    Defaults: the folder's first run, its day of peak tension, and the actor
    whose most likely option that day is the most hostile.
    """
    folder = open_run_folder(run_dir)
    run = folder.first if run is None else folder.check_run(run)
    if day is None:
        outcomes = folder.table("outcomes", {"run": "int", "peak_day": "int"})
        row = outcomes[outcomes["run"] == run]
        if not len(row):
            raise UserError(f"no row for run {run}", source=str(folder.path / "outcomes.csv"), field="run")
        day = int(row["peak_day"].iloc[0])
    return explain_scenario(folder.scenario, run=run, actor=actor, day=day, posterior=folder.posterior)


def explain_scenario(
    scenario: Scenario, *, run: int = 0, actor: str | None = None, day: int = 0, posterior: Path | None = None
) -> Explanation:
    """The same for a scenario in hand (the dashboard's "why")."""
    if not 0 <= day < scenario.days:
        raise UserError(f"expected a day from 0 to {scenario.days - 1}, found {day}", field="--day")
    model = replay(scenario, run, day, posterior=posterior)
    model.seen = model.see()
    ids = model.spec.actor_ids
    if actor is not None and actor not in ids:
        raise UserError(f"unknown actor '{actor}', expected one of: {', '.join(ids)}", field="--actor")
    tables = {a.actor_id: _options_table(model, a) for a in model.actors}
    if actor is None:
        actor = max(ids, key=lambda a: _expected_hostility(tables[a]))
    date = str(scenario.start_date + pd.Timedelta(days=day).to_pytimedelta())
    return Explanation(
        scenario.name,
        run,
        day,
        date,
        actor,
        tables[actor],
        _rate_parts(model, ids.index(actor)),
        _endings(model, ids.index(actor)),
    )


def _endings(model: ReferenceModel, i: int) -> list[dict]:
    """The postures actor i may end before choosing (ReferenceModel.ending_chances), in words."""
    from sim.model.reference import DEMAND_MET, F

    spec, out = model.spec, []
    for k, t, move, chance, kind in model.ending_chances(i):
        if kind == DEMAND_MET:
            met = F["demands_met"](model.gap(i), model.world.demand[i][k])
            why = f"demand met ({met:.0%} of the gap it took the posture up over has closed)"
        else:
            why = "carrying out the deal in force"
        out.append(
            {
                "posture": spec.postures.ids[k],
                "target": spec.actor_ids[t],
                "move": spec.moves.ids[move],
                "chance": chance,
                "why": why,
            }
        )
    return out


def _rate_parts(model: ReferenceModel, i: int) -> dict[str, float]:
    """Stage 1's expected move count and its additive parts (ReferenceActor.activity_rate)."""
    agent = model.actors[i]
    return {"total": agent.activity_rate(), **{part: agent.activity_rate(part) for part in RATE_PARTS}}


def _options_table(model: ReferenceModel, agent) -> pd.DataFrame:
    spec = model.spec
    probs = {(m, t): p for m, t, p in agent.choice_probabilities()}
    rows = []
    for move, target in agent.options():
        allowed = agent.allowed(move, target)
        terms = agent.utility_terms(move, target) if allowed else dict.fromkeys(TERMS, np.nan)
        utility = 0.0
        for value in terms.values():
            utility += value
        rows.append(
            {
                "move": spec.moves.ids[move],
                "target": spec.actor_ids[target],
                "goldstein": float(spec.moves.goldstein[move]),
                **terms,
                "utility": utility if allowed else np.nan,
                "probability": probs[(move, target)],
                "allowed": allowed,
            }
        )
    rows.append(
        {
            "move": NO_MOVE,
            "target": "-",
            "goldstein": 0.0,
            **dict.fromkeys(TERMS, np.nan),
            "utility": np.nan,
            "probability": 1.0 - agent.act_probability(),
            "allowed": True,
        }
    )
    return (
        pd.DataFrame(rows).sort_values("probability", ascending=False, kind="stable").reset_index(drop=True)
    )


def _expected_hostility(table: pd.DataFrame) -> float:
    return float((table["probability"] * np.maximum(-table["goldstein"], 0.0)).sum())


def drivers(run_dir: str | Path, *, run: int | None = None, runs: int = 100) -> tuple[Scenario, np.ndarray]:
    """Each actor's contribution to each dyad's tension, per day: (days, actors + 1, dyads).

    For one run, or the mean over the first `runs` runs of the folder. The last
    "actor" is what clipping to 0..100 removed; the parts add up to the tension.
    """
    folder = open_run_folder(run_dir)
    if run is not None:
        replicates = [folder.check_run(run)]
    else:
        if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
            raise UserError(f"expected a whole number of runs of at least 1, found {runs!r}", field="--runs")
        replicates = list(folder.replicates)[:runs]
    logs = []
    for k in replicates:
        model = replay(folder.scenario, k, folder.scenario.days, drivers=True, posterior=folder.posterior)
        logs.append(np.array(model.driver_log))
    return folder.scenario, np.mean(logs, axis=0)
