"""What has happened so far, replayed: a scenario re-based to start on a later day, its past as history.

Backtests forecast a crisis "as of day k" and `sim forecast` forecasts a live one as of a date. Both
take the coded events up to that day, turn each into a move of the scenario's repertoire (same
actor, the move with the same CAMEO code or, failing that, the same root and the nearest Goldstein
weight, directed at the first of the event's targets the scenario has), and replay them as the
scenario's `history:` (days before the new day 0: only these moves happen, stocks decay and
postures age as in a run). The run then starts on day k from the tension, grievances and postures
that past left. An event that cannot be placed (an actor or target outside the scenario, no move
of that root in the actor's repertoire, or a posture condition that fails on its day) is skipped and
counted, never guessed at silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sim.errors import UserError
from sim.scenario.loader import _history_issues, _repertoire, load_scenario
from sim.scenario.schema import HistoryEvent, Scenario

SKIP_MOVES = {"hold", "incident"}  # the engine's own moves: no coded event is one of them


@dataclass
class Replay:
    """A re-based scenario and what of the past it could replay."""

    scenario: Scenario
    origin: int  # the original scenario's day that is the new day 0
    replayed: int  # coded events replayed as history
    skipped: dict[str, int] = field(default_factory=dict)  # why -> how many

    def note(self) -> str:
        why = ", ".join(f"{n} {k}" for k, n in sorted(self.skipped.items()))
        return f"{self.replayed} coded events replayed as history" + (f"; skipped: {why}" if why else "")


def _codes(scenario: Scenario) -> dict[str, str]:
    return {a.code: k for k, a in scenario.actors.items() if a.code}


def match_move(scenario: Scenario, actor: str, cameo: str, goldstein: float) -> str | None:
    """The actor's move for a CAMEO code: the same code, else the same root with the nearest Goldstein
    weight (ties: the longer shared prefix, then the name); None when its repertoire has no such root."""
    best: tuple | None = None
    for name in sorted(_repertoire(scenario, actor) - SKIP_MOVES):
        move = scenario.moves.get(name)
        code = (move.cameo or "") if move else ""
        if not code or code[:2] != cameo[:2]:
            continue
        shared = len(code) if cameo.startswith(code) and len(code) == len(cameo) else 0
        if not shared:
            shared = next((k for k in range(min(len(code), len(cameo)), 0, -1) if code[:k] == cameo[:k]), 0)
        weight = move.goldstein if move.goldstein is not None else goldstein
        rank = (code != cameo, abs(weight - goldstein), -shared, name)
        if best is None or rank < best[0]:
            best = (rank, name)
    return None if best is None else best[1]


def coded_moves(scenario: Scenario, data: pd.DataFrame) -> tuple[list[dict], dict[str, int]]:
    """Each coded event (rows of `read_event_data`) as a history move {day, actor, move, target}."""
    codes = _codes(scenario)
    moves, skipped = [], {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    outside: dict[str, int] = {}
    for row in data.sort_values("sim_day", kind="stable").itertuples(index=False):
        actor = row.actor_id
        if actor not in scenario.actors:
            code = str(row.actor).strip() or "?"
            outside[code] = outside.get(code, 0) + 1
            continue
        name = match_move(scenario, actor, str(row.cameo).strip(), float(row.goldstein))
        if name is None:
            skip("with no move of their CAMEO root in the actor's repertoire")
            continue
        move = scenario.moves[name]
        target = None
        if move.targets != "self":
            listed = str(getattr(row, "target", "")).replace(",", ";").split(";")
            found = [codes.get(c.strip()) for c in listed]
            found = [t for t in found if t is not None and t != actor]
            if not found:
                skip("directed at no other actor of the scenario")
                continue
            target = found[0]
        moves.append({"day": int(row.sim_day), "actor": actor, "move": name, "target": target})
    if outside:  # which codes, so that a typo in a code shows
        codes_seen = ", ".join(f"{c} {n}" for c, n in sorted(outside.items()))
        skipped[f"by actors outside the scenario ({codes_seen})"] = sum(outside.values())
    return moves, skipped


def as_of(
    scenario: Scenario,
    data: pd.DataFrame,
    origin: int,
    *,
    keep_later_events: bool = False,
    posterior: str | None = None,
) -> Replay:
    """The scenario re-based to start on day `origin`, with the coded events of days 0..origin-1 in
    `data` replayed as history after its own run-up.

    On day 0 (origin 0) nothing is replayed: the scenario runs as its file gives it, but for its
    scripted events after day 0 unless `keep_later_events` (a backtest must not know them; a live
    forecast keeps the plans its modeller wrote in). From a later origin the scripted events of
    days before it are dropped (the coded events say what happened), and the later ones kept or
    dropped the same way. `posterior` (a path) is the re-based scenario's posterior.
    """
    if not 0 <= origin < scenario.days:
        raise UserError(
            f"expected a day from 0 to {scenario.days - 1} (the scenario's days), found {origin}",
            source=scenario.name,
            field="origin",
        )
    raw = scenario.model_dump(mode="json", exclude={"record", "posterior", "extends"})
    events = []
    for event in raw["events"]:
        day = event["day"]
        if (day == 0 and origin == 0) or (day >= max(origin, 1) and keep_later_events):
            events.append({**event, "day": day - origin})
    past = data[(data["sim_day"] >= 0) & (data["sim_day"] < origin)] if origin else data.iloc[:0]
    moves, skipped = coded_moves(scenario, past)
    history = [{**e, "day": e["day"] - origin} for e in raw["history"]]
    history += [{**m, "day": m["day"] - origin, "label": "replayed from the record"} for m in moves]
    history = [{k: v for k, v in e.items() if v is not None} for e in history]
    history = _placeable(scenario, history, skipped)
    start = scenario.start_date + dt.timedelta(days=origin)
    raw.update(
        {
            "name": scenario.name if origin == 0 else f"{scenario.name}_from_day_{origin}",
            "start_date": start.isoformat(),
            "days": scenario.days - origin,
            "events": events,
            "history": history,
        }
    )
    if posterior is not None:
        raw["posterior"] = str(Path(posterior).resolve())
    rebased = load_scenario(raw)
    rebased._folder = scenario._folder
    replayed = sum(1 for e in history if e.get("label") == "replayed from the record")
    return Replay(rebased, origin, replayed, skipped)


def _placeable(scenario: Scenario, history: list[dict], skipped: dict[str, int]) -> list[dict]:
    """The history less the moves whose posture conditions fail on their day (the loader's replay)."""
    for _ in range(len(history) + 1):
        trial = scenario.model_copy(update={"history": [HistoryEvent.model_validate(e) for e in history]})
        bad = {int(where.split(".")[1]) for where, _ in _history_issues(trial)}
        if not bad:
            return history
        why = "whose posture conditions failed on their day"
        skipped[why] = skipped.get(why, 0) + len(bad)
        history = [e for n, e in enumerate(history) if n not in bad]
    return history
