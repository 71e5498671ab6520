"""Which scripted moves happened: a scripted move is made only where its posture conditions hold.

The kernel skips a scripted move in a replicate where the move's requirements
fail that day (the posture it sets already stands, the one it clears is not
held towards the target, a required posture is missing or a forbidden one
stands), as it does for a chosen move. Nothing is dropped silently: the model
reads every replicate's events of a scripted day back from the kernel's buffer
(kept in the event log or not) and counts, per scripted event, the runs that
did not get it and why. The why is worked out here from the state at the start
of the day, by the same rule as the kernel's `_allowed`.
"""

from __future__ import annotations

import numpy as np

from sim.model.kernel import SCRIPTED as SCRIPTED_KIND
from sim.model.spec import CONTACT_BIT

ALREADY_HELD, NOT_HELD, MISSING, FORBIDDEN, OTHER = range(5)
# Why a scripted move did not happen, in the words of the summary; the keys name them in manifest.json.
REASONS = {
    "already_held": "the posture it sets already stood",
    "not_held": "the posture it ends was not held towards that target",
    "required_missing": "a required posture was not in place",
    "forbidden_present": "a posture that rules it out was in place",
    "other": "its conditions did not hold",
}


def move_events_by_day(events: list) -> dict[int, list[int]]:
    """The indices (in scenario.events) of each day's scripted moves, in the order the engines try them."""
    out: dict[int, list[int]] = {}
    for n, event in enumerate(events):
        if event.set is None:
            out.setdefault(event.day, []).append(n)
    return out


def posture_masks(held: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each actor's bitmask of held postures (bit k, CONTACT_BIT for any contact posture), (R, N),
    and the union over actors, (R,), as the kernel builds them at the start of a day."""
    k = held.shape[2]
    bits = np.where(held, np.left_shift(np.int64(1), np.arange(k, dtype=np.int64)), np.int64(0))
    mask = np.bitwise_or.reduce(bits, axis=2) if k else np.zeros(held.shape[:2], dtype=np.int64)
    in_contact = (held & np.asarray(contact, dtype=bool)[None, None, :]).any(axis=2)
    mask = mask | np.where(in_contact, np.int64(CONTACT_BIT), np.int64(0))
    return mask, np.bitwise_or.reduce(mask, axis=1)


def why_not(
    mask: np.ndarray,
    anymask: np.ndarray,
    target: np.ndarray,
    posts: np.ndarray,
    conds: np.ndarray,
    row: tuple[int, int, int],
) -> np.ndarray:
    """For one scripted (actor, move, target): per replicate, the reason it is not allowed, or -1."""
    a, m, t = (int(x) for x in row)
    reason = np.full(mask.shape[0], -1, dtype=np.int64)

    def mark(failed: np.ndarray, code: int) -> None:
        reason[(reason < 0) & failed] = code

    ma, mt = mask[:, a], mask[:, t]
    sets, clears = int(posts[m, 0]), int(posts[m, 1])
    c = conds[m]
    if sets >= 0:
        mark(((ma >> sets) & 1) == 1, ALREADY_HELD)
    if clears >= 0:
        mark(target[:, a, clears] != t, NOT_HELD)
    mark(((ma & c[0]) != c[0]) | ((mt & c[1]) != c[1]) | ((anymask & c[2]) != c[2]), MISSING)
    mark(((ma & c[3]) != 0) | ((mt & c[4]) != 0) | ((anymask & c[5]) != 0), FORBIDDEN)
    return reason


def made(rows: np.ndarray, runs: int, scripted: np.ndarray) -> np.ndarray:
    """(R, S): which of the day's scripted rows (actor, move, target) each replicate made.

    `rows` are the day's events of every replicate as the kernel returns them (replicate row, day,
    actor, target, move, kind), replicate by replicate in the order they happened; a replicate's
    scripted events come in the order of the scripted rows, less those it skipped, so they are
    matched in order.
    """
    out = np.zeros((runs, len(scripted)), dtype=bool)
    mine = rows[rows[:, 5] == SCRIPTED_KIND] if len(rows) else rows
    if runs == 0 or len(mine) == 0:
        return out
    rep = mine[:, 0]
    count = np.bincount(rep, minlength=runs)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    width = int(count.max())
    dense = np.full((runs, width, 3), -1, dtype=np.int64)
    dense[rep, np.arange(len(mine)) - first[rep]] = mine[:, [2, 3, 4]]  # actor, target, move
    used = np.zeros(runs, dtype=np.int64)
    reps = np.arange(runs)
    for s, (a, m, t) in enumerate(scripted):
        cand = dense[reps, np.minimum(used, width - 1)]
        hit = (used < count) & (cand[:, 0] == a) & (cand[:, 1] == t) & (cand[:, 2] == m)
        out[:, s] = hit
        used += hit
    return out


def tally(
    missed: np.ndarray,
    events: list[int],
    happened: np.ndarray,
    reasons: np.ndarray,
) -> None:
    """Add a day's misses to `missed` (scenario event index, reason): `happened` and `reasons` are (R, S)."""
    for s, n in enumerate(events):
        lost = ~happened[:, s]
        if not lost.any():
            continue
        why = reasons[lost, s]
        why = np.where(why < 0, OTHER, why)  # the kernel skipped it for a reason not foreseen here
        missed[n] += np.bincount(why, minlength=len(REASONS))[: len(REASONS)]
