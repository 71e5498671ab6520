"""`sim new`: a commented starter scenario for a crisis of one's own.

The file is a template to edit, not a model of anything: every stance is a
neutral placeholder, the roles come from the core catalogue, and one scripted
trigger event (with an id) starts the crisis. It is checked with the same
loader as any scenario before it is written, so it always validates and runs.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from pathlib import Path

import yaml

from sim.errors import UserError, one_line
from sim.scenario.loader import _catalogue, _DataLoader, load_scenario
from sim.scenario.schema import ID_PATTERN, MAX_ACTORS

# The role an actor gets when --actors does not say (`id:role` does): the first two are the
# opposing states, the third a mediator (talks are what lets the parties sign a deal).
DEFAULT_ROLES = ("state", "state", "mediator")
LATER_ROLE = "mediator"
# A trigger the first actor can make whatever its role, preferring a verbal conflict.
TRIGGER_MOVES = ("criticize", "demand_withdrawal", "threaten_sanctions", "demonstrate", "appeal_restraint")
THIRD_PARTY_LEVERAGE = ("mediator", "guarantor", "great_power")


def _roles() -> dict[str, dict]:
    return _catalogue()["roles"]


def _id_error(value: str, what: str) -> str:
    shown = one_line(repr(value))[:60]
    return f"{what} {shown} is not an id: expected lower-case letters, digits and _, starting with a letter"


def parse_name(text: str) -> str:
    """The scenario name (a file name NAME or NAME.yaml, in the current folder)."""
    name = text.removesuffix(".yaml")
    if not ID_PATTERN.fullmatch(name) or len(name) > 40:
        raise UserError(_id_error(text, "the name"), field="NAME")
    return name


def parse_actors(text: str) -> list[tuple[str, str]]:
    """`a,b:minority,c` -> [(id, role)]: at least two different ids, roles from the catalogue."""
    roles = _roles()
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise UserError(
            "expected actor ids separated by commas, e.g. --actors gov,rebels,un", field="--actors"
        )
    if len(items) < 2:
        raise UserError(f"expected at least two actors (the two sides), found {len(items)}", field="--actors")
    if len(items) > MAX_ACTORS:
        raise UserError(f"expected at most {MAX_ACTORS} actors, found {len(items)}", field="--actors")
    out: list[tuple[str, str]] = []
    for k, item in enumerate(items):
        actor, _, role = item.partition(":")
        actor, role = actor.strip(), role.strip()
        if not actor:
            raise UserError(f"actor {k + 1} is empty; expected an id such as 'gov'", field="--actors")
        if not ID_PATTERN.fullmatch(actor) or len(actor) > 40:
            raise UserError(_id_error(actor, f"actor {k + 1},"), field="--actors")
        if any(actor == a for a, _ in out):
            raise UserError(f"actor '{actor}' is given twice; expected different ids", field="--actors")
        role = role or (DEFAULT_ROLES[k] if k < len(DEFAULT_ROLES) else LATER_ROLE)
        if role not in roles:
            close = difflib.get_close_matches(role, list(roles), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UserError(
                f"unknown role {one_line(repr(role))[:40]} for '{actor}', expected one of: "
                f"{', '.join(roles)}{hint}",
                field="--actors",
            )
        out.append((actor, role))
    return out


def _trigger(role: str) -> str:
    """A move of the role that needs no posture to stand: the starter's scripted trigger."""
    moves = _catalogue()["moves"]
    repertoire = _roles()[role]["moves"]
    usable = [
        m
        for m in repertoire
        if not moves[m].get("requires")
        and not moves[m].get("accident")
        and not moves[m].get("settles")
        and moves[m].get("targets") != "self"
    ]
    return next((m for m in TRIGGER_MOVES if m in usable), usable[0] if usable else "hold")


def starter_yaml(name: str, actors: list[tuple[str, str]], start: dt.date) -> str:
    """The starter scenario's text: valid YAML with a comment on every value."""
    roles = _roles()
    parties = [a for a, role in actors if roles[role].get("party")]
    principals = parties[:2] if len(parties) >= 2 else []
    first, second = actors[0][0], actors[1][0]
    trigger = _trigger(actors[0][1])
    party_roles = ", ".join(r for r, spec in roles.items() if spec.get("party"))
    third_roles = ", ".join(r for r, spec in roles.items() if not spec.get("party"))
    lines = [
        f"# {name}: a starter scenario written by `sim new`. Every value is a placeholder:",
        "# replace each TODO and each number with what you know of the crisis (and say where",
        "# it comes from in a comment, as scenarios/kosovo_2021.yaml does).",
        f"#   sim validate {name}.yaml    checks it (one line per mistake)",
        f"#   sim show {name}.yaml        shows the actors, stances and every parameter",
        f"#   sim run {name}.yaml         runs an ensemble",
        "# The fields, their ranges and meanings: `sim schema` and docs/model.md.",
        f"name: {name}",
        "description: >-",
        "  TODO: what the crisis is about, who is involved and what happened first.",
        f"start_date: {start.isoformat()}   # TODO: the calendar date of day 0",
        "days: 60                 # days simulated",
        "seed: 1                  # seed of the random streams: same file and seed, same numbers",
        "",
        "# What the crisis is about: each issue is a line from 0 to 1.",
        "issues:",
        "  main_issue:",
        "    label: TODO what is in dispute",
        "    low: TODO what 0 means",
        "    high: TODO what 1 means",
        "    status_quo: 0.0      # where the issue stands on day 0",
    ]
    if principals:
        lines.append(
            f"principals: [{', '.join(principals)}]   # the two parties whose signatures settle the crisis"
        )
    else:
        lines.append("principals: []           # TODO: the two parties whose signatures settle the crisis")
    lines += [
        "",
        "# The actors, by id. Roles from the core catalogue (sim/data/catalogue.yaml) set the",
        f"# moves an actor can make: parties to the conflict: {party_roles};",
        f"# third parties: {third_roles}. Stances are on 0-1 scales.",
        "actors:",
    ]
    for k, (actor, role) in enumerate(actors):
        position = 1.0 if k == 0 else 0.0 if k == 1 else 0.5
        salience = 0.5 if roles[role].get("party") else 0.2
        lines += [
            f"  {actor}:",
            f"    name: {actor.replace('_', ' ').title()}   # TODO: the name shown in tables and plots",
            f"    role: {role}",
            "    capability: 0.5        # coercive capability in the theatre: 0 none, 1 the strongest",
            "    resolve: 0.5           # commitment to its position: 0 indifferent, 1 an existential stake",
            "    risk_tolerance: 0.5    # 0 very risk-averse, 1 indifferent to risk",
            "    hawkishness: 0.5       # 0 dovish, 0.5 neutral, 1 hawkish",
            f"    positions: {{main_issue: {position}}}   # its ideal point on each issue",
            f"    salience: {{main_issue: {salience}}}    # how much each issue matters (at most 1 in all)",
        ]
        if role in THIRD_PARTY_LEVERAGE:
            others = [a for a in (principals or [first, second]) if a != actor]
            if others:
                pairs = ", ".join(f"{a}: 0.3" for a in others)
                lines.append(f"    leverage: {{{pairs}}}   # its leverage over them, 0-1")
    lines += [
        "",
        "# Affinity from -1 (adversaries) to +1 (close allies); each pair once, unlisted pairs are 0.",
        "affinities:",
        f"  {first}:",
        f"    {second}: -0.6   # the two sides are adversaries",
    ]
    for actor, _ in actors[2:]:
        lines += [
            f"  {actor}:",
            f"    {first}: 0.0   # TODO",
            f"    {second}: 0.0   # TODO",
        ]
    lines += [
        "",
        "# Mechanism parameters: the joint calibration over the five bundled episodes (docs/model.md",
        "# 8.4). Each replicate draws them from its posterior; a parameter you set under",
        "# `mechanisms:` (e.g. mechanisms: {mediation: {weight: 3.0}}) keeps your value instead.",
        "# Without this line the uncalibrated defaults of docs/model.md apply (`sim show` lists them).",
        "posterior: posteriors/library.csv",
        "",
        "# Scripted events: what starts the crisis. Place an event by `day:` (0 = start_date) or",
        "# by `date:` (YYYY-MM-DD). The id lets a variant (a file with `extends:` naming this one)",
        "# drop the event (`drop_events: [trigger]`) or replace it (an event with `id: trigger`",
        "# and `replace: true`). Each role's moves are listed in sim/data/catalogue.yaml (in the",
        "# installed package); a scenario can add its own under `moves:`.",
        "events:",
        "  - id: trigger",
        "    day: 0",
        f"    actor: {first}",
        f"    move: {trigger}",
        f"    target: {second}",
        "    label: TODO what happened first",
        "",
        "# What happened before day 0 (optional): moves replayed before the run starts, which set",
        "# its starting tension, grievances and standing postures (day -1 is the day before).",
        "# history:",
        f"#   - {{id: earlier, day: -3, actor: {first}, move: criticize, target: {second}}}",
        "",
    ]
    return "\n".join(lines)


def write_starter(name: str, actors_text: str, out: Path | None, start: dt.date | None = None) -> Path:
    """Write NAME.yaml into `out` (default: the current folder); never over an existing file."""
    name = parse_name(name)
    actors = parse_actors(actors_text)
    text = starter_yaml(name, actors, start or dt.date.today())
    load_scenario(yaml.load(text, Loader=_DataLoader))  # as a file would be read: it must validate
    folder = Path(".") if out is None else Path(out)
    path = folder / f"{name}.yaml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError("is not a folder", source=str(folder), field="--out") from None
    except OSError as exc:
        raise UserError(f"cannot create the folder: {exc.strerror or 'error'}", field="--out") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # refuses an existing file
    except FileExistsError:
        raise UserError(
            "already exists; `sim new` never overwrites a file (choose another NAME or --out)",
            source=str(path),
        ) from None
    except OSError as exc:
        raise UserError(f"cannot write it: {exc.strerror or 'error'}", source=str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except BaseException as exc:
        path.unlink(missing_ok=True)  # a half-written file would be worse than none
        if isinstance(exc, OSError):
            raise UserError(f"cannot write it: {exc.strerror or 'error'}", source=str(path)) from None
        raise
    return path
