"""The fast engine: blocks of simulated days for ranges of replicates, compiled with numba.

Replicates are independent, so each runs all the days of a block in turn (its
state stays in cache) and threads take disjoint ranges of them (the compiled
`run_block` releases the GIL); within a replicate the code is plain scalar arithmetic over
the handful of actors, options, postures and issues, calling the shared
formulas in `mechanisms.py`. The per-replicate loop allocates nothing and is
compiled without reference counting, so no array costs an atomic operation.
The kernel's own helpers that take the tables and state as tuples of arrays
(`actor_rows`, `_apply`, `arousal`) are pasted into the day loop by numba
(`inline="always"`): called as functions of their own, the engine loaded from
numba's cache ran 20-45% slower (measured one at a time, 10,000 runs x 180 days
on one thread; `actor_rows` alone still costs a fifth). The formulas of
`mechanisms.py`, the draw of `rng.py` and the helpers that take scalars and
single arrays (`_allowed`, `_logit_pick`, `_aggrieve`, `_unanswered`) are
compiled functions of their own: less for numba to type, copy and lower in
`run_block` (the first run's compile 1 s shorter) and no slower (the engine
faster, 1.67 -> 1.44 s for 10,000 x 180 days: numba's pasted copies optimise
worse than LLVM's own inlining of a small function). With the replicate loop
inside `run_block` (one compiled entry point, see there), the first run's
compile takes 10 s of CPU instead of 13 (issue 12).
Every random draw is the counter-based `uniform(key, counter)`, computed only
where it is needed. The plain reference implementation (`reference.py`) does
the same in ordinary Python and must agree run for run: the loops below and
there add the same numbers in the same order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model import mechanisms as mx
from sim.model.mechanisms import (
    ACCIDENT_W,
    ACT_AROUSAL,
    ACT_BASE,
    ACT_CRISIS,
    ACT_MEMORY,
    ACT_RESPONSE,
    ADAPTATION,
    ALLIANCE_MEMORY,
    ALLIANCE_W,
    AUDIENCE_DECAY,
    AUDIENCE_W,
    BARGAIN_PRECISION,
    CAP_DISCOUNT,
    CARRY_OUT,
    CASUALTIES,
    CHRONIC,
    COST_WEIGHT,
    DEMANDS_MET,
    DETER_W,
    DRIVE,
    ESCALATION,
    EVENT_SCALE,
    FATIGUE,
    HAWK_W,
    HAZARD,
    HURT_SCALE,
    IMPLEMENTATION,
    ISSUE_W,
    JUMP_COST,
    LADDER_MEMORY,
    LADDER_SHARED,
    LOSS_AVERSION,
    MATERIAL_COST,
    MAX_MOVES,
    MEDIATION_DECAY,
    MEDIATION_W,
    MIRROR,
    MOST_MOVES,
    N_RUNGS,
    POSTURE_SCALE,
    PROMINENCE,
    PROSPECT,
    RATIONALITY,
    RECIP_MEMORY,
    RECIP_W,
    RECOVERY,
    RESOLUTION_THRESHOLD,
    RESTRAINT,
    RETALIATION_AROUSAL,
    RETALIATION_W,
    SIGNAL,
    SUNK_COST,
    TENSION_DECAY,
    VERBAL_COST,
    VERBAL_SHARE,
    WEARINESS,
)
from sim.model.rng import uniform
from sim.model.spec import (
    ACCIDENT,
    CHOSEN,
    CONTACT_BIT,
    DEMAND_MET,
    F_CLASH,
    F_COMMITMENT,
    F_CONCESSION,
    F_CONTACT_DELTA,
    F_COOPERATION,
    F_COST,
    F_GOLDSTEIN,
    F_HOSTILITY,
    F_MATERIAL,
    F_MEDIATION,
    F_PHYSICAL,
    F_RESTRAIN,
    F_RUNG,
    F_SHIFTS,
    F_SIGNAL,
    F_SUNK,
    F_SUPPORT,
    IMPLEMENTED,
    INCIDENT_BELOW,
    P_BLOCKS,
    P_BUFFER,
    P_CONTACT,
    P_COST,
    P_DETERRENCE,
    P_MAX_DAYS,
    P_PLEDGE,
    P_PRESSURE,
    P_TALKS,
    RELIEF_SLOTS,
    SCRIPTED,
    SETTLEMENT,
)

RELIEF = np.uint64(RELIEF_SLOTS)  # as the unsigned slot arithmetic needs it
SLOTS = 1 + 3 * MOST_MOVES  # uniforms per actor and day: how many moves, then rung, move, target of each


@njit(cache=True)
def _allowed(mask_a, mask_t, anymask, sets, clears, clear_target, t, c0, c1, c2, c3, c4, c5):
    """Requirements stand, forbidden postures do not, a posture is set once and cleared towards its target.

    Bitmasks: bit k = posture k held (CONTACT_BIT = any contact posture); c0..c2
    are the postures required of the actor, the target and anyone, c3..c5 those
    forbidden. Scalars only, so the call stays cheap in the hot loop.
    """
    if sets >= 0 and (mask_a >> sets) & 1:
        return False
    if clears >= 0 and clear_target != t:
        return False
    if (mask_a & c0) != c0 or (mask_t & c1) != c1 or (anymask & c2) != c2:
        return False
    return (mask_a & c3) == 0 and (mask_t & c4) == 0 and (anymask & c5) == 0


@njit(cache=True)
def _option_allowed(r, a, m, t, posts, conds, mask, anymask, ptgt):
    k = posts[m, 1]
    clear_target = ptgt[r, a, k] if k >= 0 else -1
    return _allowed(
        mask[a],
        mask[t],
        anymask,
        posts[m, 0],
        k,
        clear_target,
        t,
        conds[m, 0],
        conds[m, 1],
        conds[m, 2],
        conds[m, 3],
        conds[m, 4],
        conds[m, 5],
    )


@njit(cache=True)
def _logit_pick(util, avail, lo, hi, precision, u):
    """Logit draw over avail[lo:hi]: the first option whose cumulative weight passes u times the total.

    Overwrites util[lo:hi] with the weights (each exp computed once).
    """
    best = -np.inf
    only = -1
    count = 0
    for o in range(lo, hi):
        if avail[o]:
            count += 1
            only = o
            if util[o] > best:
                best = util[o]
    if count == 1:  # a single choice needs no weights (what follows would return it too)
        return only
    total = 0.0
    for o in range(lo, hi):
        if avail[o]:
            x = precision * (util[o] - best)
            util[o] = 1.0 if x == 0.0 else math.exp(x)  # exp(0) is exactly 1: the best option costs no exp
            total += util[o]
    threshold = u * total
    acc = 0.0
    last = -1
    for o in range(lo, hi):
        if avail[o]:
            acc += util[o]
            last = o
            if acc > threshold:
                return o
    return last


@njit(cache=True, _nrt=False)
def situation(
    r,
    b,
    n,
    act,
    aff,
    pstab,
    issues,
    principals,
    T,
    Bk,
    Q,
    REF,
    held,
    p,
    contact,
    pledge,
    vec,
    mat,
    offer,
    mask,
):
    """Quantities every actor sees on a day, derived once from replicate r's state (written into `seen`).

    Also each actor's postures as a bitmask (`mask`, for the moves' conditions); returns their union.
    Takes its arrays one by one rather than as the kernel's tuples: fewer words to pass, once a day.
    """
    bonus, signed, agreement, backing, crisis = vec[0], vec[1], vec[2], vec[3], vec[4]
    exposure, at_stake, dissat, stake, flags = vec[5], vec[6], vec[7], vec[8], vec[9]
    risk = mat[1]
    nk = pstab.shape[0]
    ni = Q.shape[1]
    lam = p[LOSS_AVERSION]
    buffer = 0.0
    talks = False
    anymask = 0
    for i in range(n):
        contact[i] = False
        pledge[i] = False
        bonus[i] = 0.0
        bits = 0
        for k in range(nk):
            if held[r, i, k]:
                bits |= 1 << k
                if pstab[k, P_CONTACT] > 0.0:
                    contact[i] = True
                if pstab[k, P_BUFFER] > buffer:
                    buffer = pstab[k, P_BUFFER]
                if pstab[k, P_PLEDGE] > 0.0:
                    pledge[i] = True
                if pstab[k, P_TALKS] > 0.0:
                    talks = True
                bonus[i] += pstab[k, P_DETERRENCE]
        if contact[i]:
            bits |= CONTACT_BIT
        mask[i] = bits
        anymask |= bits
    # the agreement is in force while both principal parties hold their pledge; allies follow their side
    in_force = principals[0] >= 0 and pledge[principals[0]] and pledge[principals[1]]
    for i in range(n):
        signed[i] = 0.0
    if in_force:
        signed[principals[0]] = 1.0
        signed[principals[1]] = 1.0
    for i in range(n):
        agreement[i] = signed[i]
        for k in range(n):
            follow = max(aff[b, i, k], 0.0) * signed[k]
            if follow > agreement[i]:
                agreement[i] = follow
    for j in range(n):
        total = 0.0
        for k in range(n):
            total += max(aff[b, k, j], 0.0) * act[b, 0, k] * act[b, 1, k] * mx.commitment(Bk[r, k, j])
        backing[j] = total
    world = 0.0
    for i in range(n):
        top = 0.0
        for j in range(n):
            if aff[b, i, j] < 0.0 and T[r, i, j] > top:
                top = T[r, i, j]
        worst = top / 100.0  # = the largest T / 100: a correctly rounded division keeps the order
        crisis[i] = worst
        if worst > world:
            world = worst
    for i in range(n):
        total = 0.0
        for j in range(n):
            if i != j and contact[i] and contact[j] and aff[b, i, j] < INCIDENT_BELOW:
                risk[i, j] = mx.incident_risk(T[r, i, j], buffer)
            else:
                risk[i, j] = 0.0
            total += risk[i, j]
        exposure[i] = total
    # the mediator's offer: the capability- and salience-weighted mean position (Bueno de Mesquita; KTAB)
    for k in range(ni):
        num = 0.0
        den = 0.0
        for i in range(n):
            w = act[b, 0, i] * issues[1, i, k]
            num += w * issues[0, i, k]
            den += w
        offer[k] = num / den if den > 0.0 else Q[r, k]
    # issues: dissatisfaction (losses against the reference point weigh more) with the status quo, and
    # with the prospect (the offer, while talks stand or a deal is in force)
    bargaining = talks or in_force
    for i in range(n):
        d = 0.0
        d_q = 0.0
        s = 0.0
        for k in range(ni):
            x = issues[0, i, k]
            felt_q = mx.felt_distance(x, Q[r, k], REF[r, i, k], lam, p[CHRONIC])
            felt = felt_q  # the prospect is the status quo unless talks stand or a deal is in force
            if bargaining:
                look = mx.prospect(Q[r, k], offer[k], p[PROSPECT], bargaining)
                felt = mx.felt_distance(x, look, REF[r, i, k], lam, p[CHRONIC])
            d += issues[1, i, k] * felt
            d_q += issues[1, i, k] * felt_q
            s += issues[1, i, k]
        dissat[i] = d
        at_stake[i] = d_q
        stake[i] = s
    flags[0] = 1.0 if talks else 0.0
    flags[1] = 1.0 if in_force else 0.0
    flags[2] = world
    return anymask


@njit(cache=True, inline="always")
def actor_rows(r, b, i, n, state, tables, p, seen):
    """Row i of the perceived strengths, the issue drive and the allies' pull: only for actors who need them.

    Strength of j's side as i sees it: j's own, and its allies' weighted by affinity (i itself excluded),
    each times the perceived resolve; i's own side uses i's own resolve (the diagonal of the beliefs).
    """
    act, aff, issues = tables[0], tables[1], tables[14]
    T, Bk, Rb, Q, REF = state[0], state[4], state[7], state[9], state[10]
    bonus, flags, offer = seen[2][0], seen[2][9], seen[4]
    bargaining = flags[0] > 0.0 or flags[1] > 0.0
    strength, pull, drive = seen[3][0], seen[3][2], seen[3][3]
    ni = Q.shape[1]
    lam = p[LOSS_AVERSION]
    for j in range(n):
        total = 0.0
        for k in range(n):
            if k == j:
                side = 1.0
            elif k == i:
                side = 0.0
            else:
                side = max(aff[b, k, j], 0.0)
            if side > 0.0:
                if k != j:
                    side *= mx.commitment(Bk[r, k, j])
                total += side * mx.side_strength(act[b, 0, k], bonus[k], Rb[r, i, k])
        strength[i, j] = total
    for t in range(n):
        total = 0.0
        for k in range(ni):
            look = mx.prospect(Q[r, k], offer[k], p[PROSPECT], bargaining)
            total += (
                issues[1, i, k]
                * mx.felt_distance(issues[0, i, k], look, REF[r, i, k], lam, p[CHRONIC])
                * abs(issues[0, i, k] - issues[0, t, k])
            )
        drive[i, t] = total
        total = 0.0
        for k in range(n):
            total += max(aff[b, i, k], 0.0) * T[r, k, t]
        pull[i, t] = total / 100.0


@njit(cache=True, inline="always")
def arousal(i, seen, world, crisis_w):
    """What raises an actor's activity above its calm rate: dissatisfaction, and (weighted) its own crisis
    and the world's."""
    vec = seen[2]
    return vec[7][i] + crisis_w * vec[4][i] + crisis_w * world  # (a + b) + c at weight 1, as before


@njit(cache=True)
def _unanswered(r, i, n, U):
    """The blows i has taken and not answered, from anyone (what rouses it, docs/model.md 7.2)."""
    total = 0.0
    for j in range(n):
        total += U[r, i, j]
    return total


@njit(cache=True)
def _aggrieve(r, b, src, tgt, amount, aff, H, n):
    """The target's grievance against the source grows, and its allies' in proportion to affinity."""
    H[r, tgt, src] += amount
    for k in range(n):
        H[r, k, src] += max(aff[b, k, tgt], 0.0) * amount


@njit(cache=True, inline="always")
def _apply(r, b, src, tgt, m, settle, tables, p, state, seen, n):
    """One event's effects on replicate r's stocks, beliefs, ladder, status quo and postures."""
    act, aff, lev, feats, posts, pstab, shifts = (
        tables[0],
        tables[1],
        tables[2],
        tables[6],
        tables[7],
        tables[9],
        tables[13],
    )
    Z = state[15]
    T, H, X, A, Bk, Med, Rb, L, Q, held, ptgt, age, clashed = (
        state[0],
        state[1],
        state[2],
        state[3],
        state[4],
        state[5],
        state[7],
        state[8],
        state[9],
        state[11],
        state[12],
        state[13],
        state[14],
    )
    offer = seen[4]
    in_force = seen[2][9][1] > 0.0
    g = feats[m, F_GOLDSTEIN]
    if g < 0.0:  # an answer pays off the blows the mover has not answered; a blow asks for one
        U = state[17]
        paid = mx.repaid(U[r, src, tgt], -g / 10.0, feats[m, F_MATERIAL], feats[m, F_RUNG])
        U[r, src, tgt] -= paid
        if feats[m, F_RUNG] >= mx.BLOW_RUNG:  # what an answer repays is no new blow: only the excess
            U[r, tgt, src] += -g / 10.0 - paid
    T[r, src, tgt] += -g * p[EVENT_SCALE]
    T[r, tgt, src] += -g * p[EVENT_SCALE]
    _aggrieve(r, b, src, tgt, -g / 10.0, aff, H, n)
    Z[r, tgt] += abs(g) / 10.0
    X[r, src] += feats[m, F_HOSTILITY]
    A[r, src] += feats[m, F_HOSTILITY] * feats[m, F_COMMITMENT]
    Bk[r, src, tgt] += feats[m, F_SUPPORT] - feats[m, F_RESTRAIN]
    leverage = lev[b, src, tgt]
    if feats[m, F_RESTRAIN] > 0.0:  # a patron's leverage over its client is its backing
        leverage = max(leverage, max(aff[b, src, tgt], 0.0) * act[b, 0, src])
    Med[r, tgt] += feats[m, F_MEDIATION] * leverage * (1.0 + aff[b, src, tgt]) / 2.0
    rung = feats[m, F_RUNG]
    if g < 0.0 and rung >= 1.0:  # the mover's rung; the target's by the ladder's shared part
        L[r, src, tgt] = max(L[r, src, tgt], rung)
        L[r, tgt, src] = max(L[r, tgt, src], p[LADDER_SHARED] * rung)
    if feats[m, F_SIGNAL] > 0.0:
        for o in range(n):
            if o != src:
                Rb[r, o, src] = mx.believe(Rb[r, o, src], p[SIGNAL], feats[m, F_SIGNAL])
    if feats[m, F_CONCESSION] > 0.0:
        for o in range(n):
            if o != src:
                Rb[r, o, src] = mx.doubt(Rb[r, o, src], p[SIGNAL])
    if feats[m, F_SHIFTS] > 0.0:
        breaks = False
        for k in range(Q.shape[1]):
            to = shifts[m, k]
            if to >= 0.0:
                if in_force and abs(to - offer[k]) > abs(Q[r, k] - offer[k]) + 1e-12:
                    breaks = True
                Q[r, k] = to
        if breaks:  # a party that moves the status quo away from the terms reneges on the deal
            for k in range(pstab.shape[0]):
                if pstab[k, P_PLEDGE] > 0.0:
                    held[r, src, k] = False
    if m == settle:  # the deal ends the talks
        for i in range(n):
            for k in range(pstab.shape[0]):
                if pstab[k, P_TALKS] > 0.0:
                    held[r, i, k] = False
    k = posts[m, 0]
    if k >= 0:
        held[r, src, k] = True
        ptgt[r, src, k] = tgt
        age[r, src, k] = 0
        # what the holder presses for: its gap from the status quo after this move's shifts
        state[16][r, src, k] = mx.gap(tables[14][0, src], tables[14][1, src], Q[r])
    k = posts[m, 1]
    if k >= 0:
        held[r, src, k] = False
    if feats[m, F_CLASH] > 0.0:
        clashed[r] = True
        # casualties: grievance on both sides and their allies, pressure at home not to back down, and
        # war weariness (the fatigue side of Richardson's pair: each side's own hostility stock)
        _aggrieve(r, b, src, tgt, p[CASUALTIES], aff, H, n)
        _aggrieve(r, b, tgt, src, p[CASUALTIES], aff, H, n)
        A[r, src] += p[CASUALTIES] / 2.0
        A[r, tgt] += p[CASUALTIES] / 2.0
        X[r, src] += p[CASUALTIES] * p[WEARINESS]
        X[r, tgt] += p[CASUALTIES] * p[WEARINESS]


def scratch_space(
    n: int, issues: int, starts: np.ndarray, scripted: int, postures: int
) -> tuple[tuple, tuple]:
    """Working space of one run_days call, made in Python: the compiled code then needs no allocator
    for it (each distinct np.empty costs compile time). `scripted` = the most scripted moves of a day."""
    max_opts = max(1, int(np.max(np.diff(starts)))) if len(starts) > 1 else 1
    seen = (
        np.empty(n, dtype=np.bool_),
        np.empty(n, dtype=np.bool_),
        np.empty((10, max(n, 4))),
        np.empty((4, n, n)),
        np.empty(max(issues, 1)),
    )
    scratch = (
        np.empty(max_opts),
        np.empty(max_opts, dtype=np.bool_),
        np.empty((4, n * MOST_MOVES + n * postures + scripted + n * n + 2), dtype=np.int64),
        np.empty(n, dtype=np.int64),
        np.empty(n),
        np.empty(N_RUNGS),
        np.empty(N_RUNGS, dtype=np.bool_),
        np.empty(max_opts),
        np.empty(max_opts, dtype=np.bool_),
        np.empty(max_opts),
    )
    return seen, scratch


def run_days(lo: int, hi: int, *inputs) -> np.ndarray:
    """Replicates lo..hi-1 through the days of `day_keys` (day0 onwards): each replicate all its days in turn.

    `inputs` = (day_keys, day0, replicates, scripted, scripted_at, special,
    tables, state, record, keep, seen, scratch). One replicate's state and
    tables stay in cache for the whole block of days. The compiled `run_block`
    releases the GIL, so threads can run disjoint replicate ranges at once
    (see CrisisModel.advance). `day_keys` = (days, 3) stream keys; `scripted` =
    the block's scripted moves (actor, move, target), day d's in rows
    scripted_at[d]..scripted_at[d+1]; `special` = (incident, clash, settle)
    move indices; `tables` = the scenario's arrays (see
    CrisisModel._kernel_tables); `state` = the State arrays; `record` = the
    Recorder's (tension, dyads, posture, settled) arrays; `seen` and `scratch` =
    working space of this call (see `scratch_space`).

    Returns the kept replicates' events as rows (replicate row, day, actor,
    target, move, kind): replicate by replicate, day by day, in the order they
    happened. The rows grow with the events themselves, not with the most a day
    could have: `run_block` stops before a replicate that might not fit, and the
    rows are grown here, in Python, so the compiled code allocates nothing.
    """
    day_keys, scripted_at, state = inputs[0], inputs[4], inputs[7]
    n = state[0].shape[1]
    nk = state[11].shape[2]
    days = day_keys.shape[0]
    most = int(np.max(np.diff(scripted_at[: days + 1]))) if days else 0
    # the most events of a day: chosen, scripted, accidents, a deal
    width = n * MOST_MOVES + n * nk + most + n * (n - 1) // 2 + 2
    rows = np.empty(((hi - lo) * days * 3 + days * width, 6), dtype=np.int32)  # about 3 a day, or it grows
    r, at = lo, np.int64(0)
    while True:
        r, at = run_block(r, hi, *inputs, rows, at, days * width)
        if r >= hi:
            return rows[:at]
        # room for replicate r's worst case
        grown = np.empty((2 * rows.shape[0] + days * width, 6), dtype=np.int32)
        grown[:at] = rows[:at]
        rows = grown


@njit(cache=True, nogil=True, _nrt=False)
def run_block(
    start_r,
    stop_r,
    day_keys,
    day0,
    replicates,
    scripted_all,
    scripted_at,
    special,
    tables,
    state,
    record,
    keep,
    seen,
    scratch,
    rows,
    at,
    room,
):
    """Replicates start_r..stop_r-1 through their days (see run_days), each day: situation, bargaining,
    decisions, scripted moves, accidents, effects, record; a kept replicate's events go to rows[at:].

    Stops before a kept replicate when fewer than `room` rows are left (its worst case); returns the
    next replicate and where its events go. One compiled function with the replicate loop inside: a
    layer of compiled calls around it cost two seconds of compiling (numba optimises every caller's
    module again with its callees' code linked in).
    """
    incident, clash_move, settle = special
    act, aff, sal, params, feats, posts, conds, pstab = (
        tables[0],
        tables[1],
        tables[3],
        tables[5],
        tables[6],
        tables[7],
        tables[8],
        tables[9],
    )
    opt_move, opt_target, starts, issues, principals = (
        tables[10],
        tables[11],
        tables[12],
        tables[14],
        tables[15],
    )
    T, H, X, A, Bk, Med, C, _, L, Q, REF, held, ptgt, age = state[:14]
    U = state[17]
    out_global, out_dyads, out_posture, out_settled = record
    util, avail, events, mask, balance_t, rung_u, rung_ok, mbest, mok, mw = scratch
    n = T.shape[1]
    nk = held.shape[2]
    ni = Q.shape[1]
    batch = act.shape[0]
    for r in range(start_r, stop_r):
        if keep[r] and at + room > rows.shape[0]:
            return r, at
        b = r if batch > 1 else 0
        p = params[b]
        for step in range(day_keys.shape[0]):
            key_choice, key_accident, key_bargain = day_keys[step, 0], day_keys[step, 1], day_keys[step, 2]
            s_lo, s_hi = scripted_at[step], scripted_at[step + 1]
            day = day0 + step
            anymask = situation(
                r,
                b,
                n,
                act,
                aff,
                pstab,
                issues,
                principals,
                T,
                Bk,
                Q,
                REF,
                held,
                p,
                seen[0],
                seen[1],
                seen[2],
                seen[3],
                seen[4],
                mask,
            )
            contact, vec, mat, offer = seen[0], seen[2], seen[3], seen[4]
            stake, flags = vec[8], vec[9]
            strength, risk = mat[0], mat[1]
            e_src, e_tgt, e_move, e_kind = events[0], events[1], events[2], events[3]
            count = 0
            rep = np.uint64(replicates[r])
            # ---- bargaining: while talks stand, each principal weighs the offer against fighting on
            # (a day before day 0 is history: only its scripted moves happen, and nothing is recorded)
            if day >= 0 and flags[0] > 0.0 and flags[1] == 0.0 and principals[0] >= 0 and settle >= 0:
                accepted = 0
                lam = p[LOSS_AVERSION]
                for q in range(2):
                    i = principals[q]
                    j = principals[1 - q]
                    actor_rows(r, b, i, n, state, tables, p, seen)
                    deal = 0.0
                    lose = 0.0
                    for k in range(ni):
                        deal -= issues[1, i, k] * mx.felt_distance(
                            issues[0, i, k], offer[k], REF[r, i, k], lam, p[CHRONIC]
                        )
                        lose -= issues[1, i, k] * mx.felt_distance(
                            issues[0, i, k], issues[0, j, k], REF[r, i, k], lam, p[CHRONIC]
                        )
                    win = 1.0 - mx.balance(strength[i, i], strength[i, j])
                    fight = mx.no_deal_value(
                        -vec[6][i], win, lose, vec[4][i], p[COST_WEIGHT], mx.hurt(C[r, i], p[HURT_SCALE])
                    )
                    chance = mx.accept_probability(
                        p[BARGAIN_PRECISION],
                        deal,
                        fight,
                        Med[r, i],
                        p[MEDIATION_W],
                        A[r, i],
                        p[AUDIENCE_W],
                        vec[4][i],
                    )
                    if uniform(key_bargain, rep * np.uint64(2) + np.uint64(q)) < chance:
                        accepted += 1
                if accepted == 2:
                    for q in range(2):
                        e_src[count] = principals[q]
                        e_tgt[count] = principals[1 - q]
                        e_move[count] = settle
                        e_kind[count] = SETTLEMENT
                        count += 1
            # ---- implementation and demands met: under a deal in force, its parties (and their allies, by
            # affinity) end their blocking postures, each with a daily chance; so does the holder of a
            # coercive posture (one whose ending concedes nothing) as far as its demand has been met. The
            # bargaining stream's slots are free under a deal (talks and a deal in force never share a day);
            # on other days these draws take slots of their own (RELIEF_SLOTS on)
            impl_lo = count
            if day >= 0:
                in_force = flags[1] > 0.0
                D = state[16]
                for i in range(n):
                    bound = vec[2, i] if in_force else 0.0
                    busy = False
                    for s in range(
                        s_lo, s_hi
                    ):  # a scripted move takes the day's initiative (it may be this one)
                        if scripted_all[s, 0] == i:
                            busy = True
                    if busy:
                        continue
                    gap = -1.0  # computed for the first posture that pressed for something
                    for k in range(nk):
                        if not (held[r, i, k] and pstab[k, P_BLOCKS] > 0.0):
                            continue
                        chance = bound
                        kind = IMPLEMENTED
                        if gap < 0.0 and D[r, i, k] > 0.0:
                            gap = mx.gap(issues[0, i], issues[1, i], Q[r])
                        met = p[DEMANDS_MET] * mx.demands_met(gap, D[r, i, k])
                        if met > chance:
                            chance = met
                            kind = DEMAND_MET
                        if chance <= 0.0:
                            continue
                        # the draw first: the move's search only where it falls under the larger chance
                        slot = (rep * np.uint64(n) + np.uint64(i)) * np.uint64(nk) + np.uint64(k)
                        if not in_force:
                            slot += RELIEF
                        u = uniform(key_bargain, slot)
                        if u >= p[CARRY_OUT] * chance:
                            continue
                        t = ptgt[r, i, k]
                        ending = -1
                        for o in range(starts[i], starts[i + 1]):  # the actor's own move that ends it
                            m = opt_move[o]
                            if (
                                posts[m, 1] == k
                                and opt_target[o] == t
                                and _option_allowed(r, i, m, t, posts, conds, mask, anymask, ptgt)
                            ):
                                ending = m
                                break
                        if ending < 0:
                            continue
                        if kind == DEMAND_MET and feats[ending, F_SHIFTS] > 0.0:  # ending it would concede
                            kind = IMPLEMENTED
                            if u >= p[CARRY_OUT] * bound:
                                continue
                        e_src[count] = i
                        e_tgt[count] = t
                        e_move[count] = ending
                        e_kind[count] = kind
                        count += 1
            impl_hi = count
            # ---- decisions: every actor on the same situation, in stages
            world = flags[2]
            lev, party, shifts, Rb = tables[2], tables[4], tables[13], state[7]
            lam = p[LOSS_AVERSION]
            for i in range(n):
                is_scripted = False
                # the scan of implementation's loop again, inline: as a helper function (even inline="always")
                # the engine loaded from numba's cache ran 25% slower (benchmarks/bench_ensemble.py)
                for s in range(s_lo, s_hi):
                    if scripted_all[s, 0] == i:
                        is_scripted = True
                for q in range(impl_lo, impl_hi):  # implementing the deal takes the day's initiative
                    if e_src[q] == i:
                        is_scripted = True
                if is_scripted or day < 0:
                    continue
                base = (rep * np.uint64(n) + np.uint64(i)) * np.uint64(SLOTS)
                rate = mx.activity_rate(
                    act[b, 4, i],
                    p[ACT_BASE],
                    p[ACT_AROUSAL],
                    stake[i],
                    arousal(i, seen, world, p[ACT_CRISIS]) + p[RETALIATION_AROUSAL] * _unanswered(r, i, n, U),
                    act[b, 0, i],
                    p[PROMINENCE],
                    p[ACT_RESPONSE],
                    state[15][r, i],
                )
                moves_today = mx.move_count(rate, min(p[MAX_MOVES], MOST_MOVES), uniform(key_choice, base))
                if moves_today == 0:
                    continue
                actor_rows(r, b, i, n, state, tables, p, seen)
                # what does not depend on the option: once per actor, and per target (docs/model.md 7.1)
                cap, res, rt, hawk = act[b, 0, i], act[b, 1, i], act[b, 2, i], act[b, 3, i]
                x_i, a_i, med_i, party_i = X[r, i], A[r, i], Med[r, i], party[i]
                agree_i, backing_i, crisis_i, exposure_i = vec[2, i], vec[3, i], vec[4, i], vec[5, i]
                aroused_i = vec[7, i] + crisis_i
                in_force_i = agree_i * flags[1]
                for t in range(n):
                    balance_t[t] = mx.balance(strength[i, i], strength[i, t])
                lo, hi = starts[i], starts[i + 1]
                # options come grouped by move: the move's own terms once per group, the target's per option
                o = 0
                while o < hi - lo:
                    m = opt_move[lo + o]
                    end = o
                    any_ok = False
                    # the conditions on the actor and on anyone once per move, those on the target per option
                    move_ok = _allowed(
                        mask[i],
                        0,
                        anymask,
                        posts[m, 0],
                        -1,
                        -1,
                        -1,
                        conds[m, 0],
                        0,
                        conds[m, 2],
                        conds[m, 3],
                        0,
                        conds[m, 5],
                    )
                    clears = posts[m, 1]
                    clear_target = ptgt[r, i, clears] if clears >= 0 else -1
                    while end < hi - lo and opt_move[lo + end] == m:
                        t = opt_target[lo + end]
                        ok = move_ok and _allowed(
                            0, mask[t], 0, -1, clears, clear_target, t, 0, conds[m, 1], 0, 0, conds[m, 4], 0
                        )
                        avail[end] = ok
                        any_ok = any_ok or ok
                        mok[end] = False
                        end += 1
                    mbest[o] = -np.inf
                    if not any_ok:
                        o = end
                        continue
                    e = feats[m, F_HOSTILITY]
                    c = feats[m, F_COOPERATION]
                    net = e - c
                    material = feats[m, F_MATERIAL]
                    cd = feats[m, F_CONTACT_DELTA]
                    rung = feats[m, F_RUNG]
                    concession, signal = feats[m, F_CONCESSION], feats[m, F_SIGNAL]
                    support, restrain, intensity = (
                        feats[m, F_SUPPORT],
                        feats[m, F_RESTRAIN],
                        feats[m, F_MEDIATION],
                    )
                    cost = feats[m, F_COST]
                    if cost < 0.0:
                        if feats[m, F_PHYSICAL] > 0.0:  # a show of force with forces on alert: partly sunk
                            cost = p[MATERIAL_COST] * (1.0 - p[SUNK_COST] * feats[m, F_SUNK])
                        else:
                            cost = p[VERBAL_COST]
                    gain = 0.0
                    keeps = 0.0
                    if feats[m, F_SHIFTS] > 0.0:
                        for k in range(ni):
                            to = shifts[m, k]
                            if to >= 0.0:
                                x = issues[0, i, k]
                                gain += issues[1, i, k] * (
                                    mx.felt_distance(x, Q[r, k], REF[r, i, k], lam, p[CHRONIC])
                                    - mx.felt_distance(x, to, REF[r, i, k], lam, p[CHRONIC])
                                )
                                keeps += abs(Q[r, k] - offer[k]) - abs(to - offer[k])
                    answering = mx.answers(material, rung)
                    u0 = mx.disposition(p[HAWK_W], hawk, net, cost, p[CAP_DISCOUNT], cap, material)
                    u7 = mx.agreement(p[IMPLEMENTATION], in_force_i, c, e, party_i, keeps)
                    u9 = mx.accidents(p[ACCIDENT_W], rt, exposure_i, cd)
                    best = -np.inf
                    for q in range(o, end):
                        if not avail[q]:
                            continue
                        t = opt_target[lo + q]
                        a_it = aff[b, i, t]
                        crisis_t = vec[4, t]
                        u1 = mx.issues(p[ISSUE_W], mat[3, i, t], net, gain)
                        u2 = mx.reciprocity(
                            p[RECIP_W],
                            H[r, i, t],
                            p[FATIGUE],
                            x_i,
                            net,
                            p[MIRROR],
                            cd,
                            1.0 if contact[t] else 0.0,
                            p[RETALIATION_W],
                            U[r, i, t],
                            answering,
                        )
                        u3 = mx.deterrence(p[DETER_W], rt, balance_t[t], e, material, p[VERBAL_SHARE])
                        u4 = mx.audience_costs(
                            p[AUDIENCE_W], a_i, concession, agree_i, signal, res, 1.0 - Rb[r, t, i], aroused_i
                        )
                        u5 = mx.alliance(
                            p[ALLIANCE_W],
                            backing_i,
                            mat[2, i, t],
                            e,
                            1.0 if a_it < 0.0 else 0.0,
                            support,
                            max(a_it, 0.0),
                            res,
                            cap,
                            crisis_t,
                            restrain,
                            p[RESTRAINT],
                            rt,
                        )
                        u6 = mx.mediation(
                            p[MEDIATION_W],
                            med_i,
                            c,
                            e,
                            party_i,
                            p[DRIVE],
                            res,
                            lev[b, i, t],
                            crisis_t,
                            intensity,
                        )
                        u8 = mx.escalation(p[JUMP_COST], rung, L[r, i, t])
                        # the terms add up in their order (TERMS), as the reference adds them
                        u = 0.0 + u0 + u1 + u2 + u3 + u4 + u5 + u6 + u7 + u8 + u9
                        util[q] = u
                        if u > best:
                            best = u
                    mbest[o] = best
                    o = end
                # stages 2-4 once per move today, on the same utilities; a move is made at most once a day
                for a in range(moves_today):
                    for g in range(N_RUNGS):
                        rung_u[g] = -np.inf
                        rung_ok[g] = False
                    o = 0
                    while o < hi - lo:
                        m = opt_move[lo + o]
                        if mbest[o] > -np.inf:
                            g = int(feats[m, F_RUNG])
                            rung_ok[g] = True
                            if mbest[o] > rung_u[g]:
                                rung_u[g] = mbest[o]
                        o += 1
                        while o < hi - lo and opt_move[lo + o] == m:
                            o += 1
                    any_ok = False
                    for g in range(N_RUNGS):
                        any_ok = any_ok or rung_ok[g]
                    if not any_ok:
                        break
                    slot = base + np.uint64(1 + 3 * a)
                    # stage 2: the rung of the ladder, valued by its best option
                    g = _logit_pick(rung_u, rung_ok, 0, N_RUNGS, p[RATIONALITY], uniform(key_choice, slot))
                    # stage 3: the move within the rung, valued by its best target
                    o = 0
                    while o < hi - lo:
                        m = opt_move[lo + o]
                        mok[o] = mbest[o] > -np.inf and int(feats[m, F_RUNG]) == g
                        mw[o] = mbest[o]
                        o += 1
                        while o < hi - lo and opt_move[lo + o] == m:
                            mok[o] = False
                            o += 1
                    pick_lo = _logit_pick(
                        mw, mok, 0, hi - lo, p[RATIONALITY], uniform(key_choice, slot + np.uint64(1))
                    )
                    pick_hi = pick_lo
                    while pick_hi < hi - lo and opt_move[lo + pick_hi] == opt_move[lo + pick_lo]:
                        pick_hi += 1
                    # stage 4: the target of that move
                    o = _logit_pick(
                        util,
                        avail,
                        pick_lo,
                        pick_hi,
                        p[RATIONALITY],
                        uniform(key_choice, slot + np.uint64(2)),
                    )
                    mbest[pick_lo] = -np.inf  # made today: not again
                    e_src[count] = i
                    e_tgt[count] = opt_target[lo + o]
                    e_move[count] = opt_move[lo + o]
                    e_kind[count] = CHOSEN
                    count += 1
            for s in range(s_lo, s_hi):
                a, m, t = scripted_all[s, 0], scripted_all[s, 1], scripted_all[s, 2]
                if _option_allowed(r, a, m, t, posts, conds, mask, anymask, ptgt):
                    e_src[count] = a
                    e_tgt[count] = t
                    e_move[count] = m
                    e_kind[count] = SCRIPTED
                    count += 1
            # ---- accidents between forces in contact that are not allies (peacekeepers included)
            pair = 0
            for i in range(n):
                for j in range(i + 1, n):
                    if risk[i, j] > 0.0 and day >= 0:
                        base = (rep * np.uint64(n * (n - 1) // 2) + np.uint64(pair)) * np.uint64(3)
                        chance = -math.expm1(-p[HAZARD] * risk[i, j])
                        if uniform(key_accident, base) < chance:
                            first = uniform(key_accident, base + np.uint64(1)) < 0.5
                            level = T[r, i, j] / 100.0
                            escalates = (
                                uniform(key_accident, base + np.uint64(2)) < p[ESCALATION] * level * level
                            )
                            e_src[count] = i if first else j
                            e_tgt[count] = j if first else i
                            e_move[count] = clash_move if escalates else incident
                            e_kind[count] = ACCIDENT
                            count += 1
                    pair += 1
            # ---- the day's effects: decay, events, standing postures, habituation
            decay_t = 1.0 - p[TENSION_DECAY]
            memory = 1.0 - p[RECIP_MEMORY]
            Z = state[15]
            for i in range(n):
                Z[r, i] *= 1.0 - p[ACT_MEMORY]
                X[r, i] *= memory
                A[r, i] *= 1.0 - p[AUDIENCE_DECAY]
                Med[r, i] *= 1.0 - p[MEDIATION_DECAY]
                C[r, i] *= 1.0 - p[RECOVERY]
                for j in range(n):
                    T[r, i, j] *= decay_t
                    H[r, i, j] *= memory
                    Bk[r, i, j] *= 1.0 - p[ALLIANCE_MEMORY]
                    L[r, i, j] *= 1.0 - p[LADDER_MEMORY]
                    U[r, i, j] *= 1.0 - p[ADAPTATION]  # one gets used to an unanswered blow as to any loss
            for q in range(count):
                _apply(r, b, e_src[q], e_tgt[q], e_move[q], settle, tables, p, state, seen, n)
            for i in range(n):
                for k in range(nk):
                    if held[r, i, k]:
                        t = ptgt[r, i, k]
                        pressure = pstab[k, P_PRESSURE]
                        T[r, i, t] += pressure * p[POSTURE_SCALE]
                        T[r, t, i] += pressure * p[POSTURE_SCALE]
                        _aggrieve(r, b, i, t, pressure / 10.0, aff, H, n)
                        X[r, i] += max(pressure, 0.0) / 10.0
                        C[r, i] += pstab[k, P_COST]
            for i in range(n):
                worst = 0.0
                for j in range(n):
                    if aff[b, i, j] < 0.0 and T[r, i, j] > worst:
                        worst = T[r, i, j]
                C[r, i] += worst / 100.0
                for k in range(ni):
                    REF[r, i, k] += p[ADAPTATION] * (Q[r, k] - REF[r, i, k])
            for i in range(n):
                for j in range(n):
                    T[r, i, j] = min(100.0, max(0.0, T[r, i, j]))
            blocking = False
            for i in range(n):
                level = 0.0
                for k in range(nk):
                    if held[r, i, k]:
                        age[r, i, k] += 1
                        if pstab[k, P_MAX_DAYS] > 0 and age[r, i, k] >= pstab[k, P_MAX_DAYS]:
                            held[r, i, k] = False
                    if held[r, i, k]:
                        level += max(pstab[k, P_PRESSURE], 0.0)
                        if pstab[k, P_BLOCKS] > 0.0:
                            blocking = True
                if day >= 0:
                    out_posture[r, day, i] = level
            if day < 0:
                continue
            # ---- record
            num = 0.0
            den = 0.0
            d = 0
            for i in range(n):
                for j in range(i + 1, n):
                    out_dyads[r, day, d] = T[r, i, j]
                    num += T[r, i, j] * sal[b, i, j]
                    den += sal[b, i, j]
                    d += 1
            if den == 0.0:
                num = 0.0
                for q in range(d):
                    num += out_dyads[r, day, q]
                den = d
            out_global[r, day] = num / den
            out_settled[r, day] = (not blocking) and out_global[r, day] < p[RESOLUTION_THRESHOLD]
            if keep[r]:
                for q in range(count):
                    rows[at, 0] = r
                    rows[at, 1] = day
                    rows[at, 2] = e_src[q]
                    rows[at, 3] = e_tgt[q]
                    rows[at, 4] = e_move[q]
                    rows[at, 5] = e_kind[q]
                    at += 1
    return stop_r, at


@njit(cache=True)
def by_run(table, n_rows):
    """Reorder day-major event rows run by run, keeping each run's rows in day and emission order."""
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for q in range(table.shape[0]):
        counts[table[q, 0] + 1] += 1
    for r in range(n_rows):
        counts[r + 1] += counts[r]
    out = np.empty_like(table)
    for q in range(table.shape[0]):
        r = table[q, 0]
        for col in range(table.shape[1]):  # element by element: compiles faster than a row copy
            out[counts[r], col] = table[q, col]
        counts[r] += 1
    return out
