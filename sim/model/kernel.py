"""The fast engine: one simulated day for every replicate, compiled with numba.

Replicates are independent, so the day is a parallel loop over them; within a
replicate the code is plain scalar arithmetic over the handful of actors,
options and postures, calling the shared formulas in `sim/mechanisms.py`. Every
random draw is the counter-based `uniform(key, counter)`, computed only where
it is needed. The plain reference implementation (`sim/reference.py`) does the
same in ordinary Python and must agree run for run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from sim.model import mechanisms as mx
from sim.model.mechanisms import (
    ACCIDENT_W,
    ALLIANCE_MEMORY,
    ALLIANCE_W,
    AUDIENCE_DECAY,
    AUDIENCE_W,
    CAP_DISCOUNT,
    DETER_W,
    DRIVE,
    ESCALATION,
    EVENT_SCALE,
    FATIGUE,
    HAWK_W,
    HAZARD,
    HURT_SCALE,
    IMPLEMENTATION,
    MEDIATION_DECAY,
    MEDIATION_W,
    MIRROR,
    POSTURE_SCALE,
    RATIONALITY,
    RECIP_MEMORY,
    RECIP_W,
    RECOVERY,
    RESOLUTION_THRESHOLD,
    RIPE_THRESHOLD,
    RIPE_W,
    RIPE_WIDTH,
    TENSION_DECAY,
    VERBAL_SHARE,
)
from sim.model.rng import uniform
from sim.model.spec import (
    CONTACT_BIT,
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
    F_SETTLEMENT,
    F_SUPPORT,
    P_BLOCKS,
    P_BUFFER,
    P_CONTACT,
    P_COST,
    P_DETERRENCE,
    P_MAX_DAYS,
    P_PLEDGE,
    P_PRESSURE,
)

CHOSEN, SCRIPTED, ACCIDENT = 0, 1, 2


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def situation(r, b, n, state, act, aff, params, pstab, seen):
    """Quantities every actor sees on a day, derived once from replicate r's state (written into `seen`)."""
    T, Bk, Med, C, held = state[0], state[4], state[5], state[6], state[7]
    contact, deterrent, backing, crisis, agreement, way_out, exposure = seen[:7]
    risk, pull, hurt, pledge, bonus, signed = seen[7:]
    p = params[b]
    nk = pstab.shape[0]
    buffer = 0.0
    for i in range(n):
        contact[i] = False
        pledge[i] = False
        bonus[i] = 0.0
        signed[i] = 0.0
        for k in range(nk):
            if held[r, i, k]:
                if pstab[k, P_CONTACT] > 0.0:
                    contact[i] = True
                if pstab[k, P_BUFFER] > buffer:
                    buffer = pstab[k, P_BUFFER]
                if pstab[k, P_PLEDGE] > 0.0:
                    pledge[i] = True
                bonus[i] += pstab[k, P_DETERRENCE]
    for i in range(n):
        for j in range(n):
            if pledge[i] and pledge[j] and aff[b, i, j] < 0.0:
                signed[i] = 1.0
    for i in range(n):
        agreement[i] = signed[i]
        for k in range(n):
            follow = max(aff[b, i, k], 0.0) * signed[k]
            if follow > agreement[i]:
                agreement[i] = follow
    for j in range(n):
        total = 0.0
        for k in range(n):
            side = 1.0 if k == j else max(aff[b, k, j], 0.0)
            total += side * (act[b, 0, k] * (1.0 + bonus[k]))
        deterrent[j] = total
        total = 0.0
        for k in range(n):
            total += max(aff[b, k, j], 0.0) * act[b, 0, k] * act[b, 1, k] * (1.0 + Bk[r, k, j])
        backing[j] = total
    for i in range(n):
        worst = 0.0
        for j in range(n):
            if aff[b, i, j] < 0.0 and T[r, i, j] / 100.0 > worst:
                worst = T[r, i, j] / 100.0
        crisis[i] = worst
        way_out[i] = min(1.0, Med[r, i])
    for i in range(n):
        total = 0.0
        for j in range(n):
            if contact[i] and contact[j] and aff[b, i, j] < 0.0:
                risk[i, j] = mx.incident_risk(T[r, i, j], buffer)
            else:
                risk[i, j] = 0.0
            total += risk[i, j]
        exposure[i] = total
    for i in range(n):
        hurt[i] = mx.hurt(C[r, i], p[HURT_SCALE])
        for j in range(n):
            total = 0.0
            for k in range(n):
                total += max(aff[b, i, k], 0.0) * T[r, k, j]
            pull[i, j] = total / 100.0


@njit(cache=True, inline="always")
def _pick(util, avail, count, precision, u):
    """Logit draw: the first option whose cumulative weight passes u times the total."""
    best = -np.inf
    for o in range(count):
        if avail[o] and util[o] > best:
            best = util[o]
    total = 0.0
    for o in range(count):
        if avail[o]:
            util[o] = math.exp(precision * (util[o] - best))
            total += util[o]
        else:
            util[o] = 0.0
    threshold = u * total
    acc = 0.0
    last = 0
    for o in range(count):
        if avail[o]:
            acc += util[o]
            last = o
            if acc > threshold:
                return o
    return last


@njit(cache=True, inline="always")
def _apply(
    r, b, src, tgt, m, feats, posts, aff, lev, params, T, H, X, A, Bk, Med, held, ptgt, age, clashed, n
):
    """One event's effects on replicate r's stocks and postures."""
    p = params[b]
    g = feats[m, F_GOLDSTEIN]
    T[r, src, tgt] += -g * p[EVENT_SCALE]
    T[r, tgt, src] += -g * p[EVENT_SCALE]
    _aggrieve(r, b, src, tgt, -g / 10.0, aff, H, n)
    X[r, src] += feats[m, F_HOSTILITY]
    A[r, src] += feats[m, F_HOSTILITY] * feats[m, F_COMMITMENT]
    Bk[r, src, tgt] += feats[m, F_SUPPORT]
    Med[r, tgt] += feats[m, F_MEDIATION] * lev[b, src, tgt] * (1.0 + aff[b, src, tgt]) / 2.0
    k = posts[m, 0]
    if k >= 0:
        held[r, src, k] = True
        ptgt[r, src, k] = tgt
        age[r, src, k] = 0
    k = posts[m, 1]
    if k >= 0:
        held[r, src, k] = False
    if feats[m, F_CLASH] > 0.0:
        clashed[r] = True


@njit(cache=True, inline="always")
def _aggrieve(r, b, src, tgt, amount, aff, H, n):
    """The target's grievance against the source grows, and its allies' in proportion to affinity."""
    H[r, tgt, src] += amount
    for k in range(n):
        H[r, k, src] += max(aff[b, k, tgt], 0.0) * amount


@njit(cache=True, parallel=True)
def step_day(
    day_keys, replicates, scripted, special, tables, state, record, day, ev, nev, keep_events, chunks
):
    """Advance every replicate by one day, in `chunks` parallel blocks (see CrisisModel.step).

    `special` = (hold, incident, clash) move indices; `tables` = the scenario's
    arrays (see CrisisModel._kernel_tables); `state` = the State arrays;
    `record` = the Recorder's (tension, dyads, posture, settled) arrays.
    """
    T = state[0]
    n_rep = T.shape[0]
    n = T.shape[1]
    starts = tables[12]
    max_opts = 0
    for i in range(n):
        max_opts = max(max_opts, starts[i + 1] - starts[i])
    for c in prange(chunks):
        # scratch space once per chunk of replicates, not once per replicate
        scratch = (
            np.empty((8, n)),
            np.empty((2, n, n)),
            np.empty((2, n), dtype=np.bool_),
            np.empty(max(max_opts, n)),
            np.empty(max_opts, dtype=np.bool_),
            np.empty((4, n + scripted.shape[0] + n * n), dtype=np.int64),
            np.empty(n, dtype=np.int64),
        )
        for r in range(c * n_rep // chunks, (c + 1) * n_rep // chunks):
            _one_day(
                r,
                day_keys,
                replicates,
                scripted,
                special,
                tables,
                state,
                record,
                day,
                ev,
                nev,
                keep_events,
                scratch,
            )


@njit(cache=True)
def _one_day(
    r, day_keys, replicates, scripted, special, tables, state, record, day, ev, nev, keep_events, scratch
):
    """One replicate's day: situation, decisions, scripted moves, accidents, effects, record."""
    hold, incident, clash_move = special
    act, aff, lev, sal, party, params, feats, posts, conds, pstab, opt_move, opt_target, starts = tables
    T, H, X, A, Bk, Med, C, held, ptgt, age, clashed = state
    out_global, out_dyads, out_posture, out_settled = record
    fvec, fmat, bvec, util, avail, events, mask = scratch
    n = T.shape[1]
    nk = held.shape[2]
    batch = act.shape[0]
    key_choice, key_accident = day_keys[0], day_keys[1]
    b = r if batch > 1 else 0
    p = params[b]
    deterrent, backing, crisis, agreement = fvec[0], fvec[1], fvec[2], fvec[3]
    way_out, exposure, hurt, bonus = fvec[4], fvec[5], fvec[6], fvec[7]
    risk, pull = fmat[0], fmat[1]
    contact, pledge = bvec[0], bvec[1]
    signed = util  # free until the decisions start
    seen = (
        contact,
        deterrent,
        backing,
        crisis,
        agreement,
        way_out,
        exposure,
        risk,
        pull,
        hurt,
        pledge,
        bonus,
        signed,
    )
    situation(r, b, n, state, act, aff, params, pstab, seen)
    anymask = 0
    for i in range(n):
        bits = 0
        for k in range(nk):
            if held[r, i, k]:
                bits |= 1 << k
        if contact[i]:
            bits |= CONTACT_BIT
        mask[i] = bits
        anymask |= bits
    # ---- decisions: every actor on the same situation
    e_src, e_tgt, e_move, e_kind = events[0], events[1], events[2], events[3]
    count = 0
    rep = np.uint64(replicates[r])
    for i in range(n):
        is_scripted = False
        for s in range(scripted.shape[0]):
            if scripted[s, 0] == i:
                is_scripted = True
        if is_scripted:
            continue
        n_opt = starts[i + 1] - starts[i]
        cap, res, rt, hawk = act[b, 0, i], act[b, 1, i], act[b, 2, i], act[b, 3, i]
        for o in range(n_opt):
            m = opt_move[starts[i] + o]
            t = opt_target[starts[i] + o]
            ok = _option_allowed(r, i, m, t, posts, conds, mask, anymask, ptgt)
            avail[o] = ok
            if not ok:
                continue
            # the eight terms of docs/model.md 7.1, in order, from the shared formulas
            e = feats[m, F_HOSTILITY]
            c = feats[m, F_COOPERATION]
            net = e - c
            material = feats[m, F_MATERIAL]
            cd = feats[m, F_CONTACT_DELTA]
            a_it = aff[b, i, t]
            ripe_it = 0.0
            if feats[m, F_SETTLEMENT] > 0.0:  # the term is zero otherwise: skip the exp
                ripe_it = mx.ripe(hurt[i], hurt[t], p[RIPE_THRESHOLD], p[RIPE_WIDTH])
            total = 0.0
            total += mx.disposition(p[HAWK_W], hawk, net, feats[m, F_COST], p[CAP_DISCOUNT], cap, material)
            total += mx.reciprocity(
                p[RECIP_W], H[r, i, t], p[FATIGUE], X[r, i], net, p[MIRROR], cd, 1.0 if contact[t] else 0.0
            )
            total += mx.deterrence(p[DETER_W], rt, deterrent[t], e, material, p[VERBAL_SHARE])
            total += mx.audience_costs(p[AUDIENCE_W], A[r, i], feats[m, F_CONCESSION], agreement[i])
            total += mx.alliance(
                p[ALLIANCE_W],
                backing[i],
                pull[i, t],
                e,
                1.0 if a_it < 0.0 else 0.0,
                feats[m, F_SUPPORT],
                max(a_it, 0.0),
                res,
                crisis[t],
            )
            total += mx.mediation(
                p[MEDIATION_W],
                Med[r, i],
                p[IMPLEMENTATION],
                agreement[i],
                c,
                e,
                party[i],
                p[DRIVE],
                res,
                lev[b, i, t],
                crisis[t],
                feats[m, F_MEDIATION],
            )
            total += mx.ripeness(p[RIPE_W], ripe_it, way_out[i], feats[m, F_SETTLEMENT])
            total += mx.accidents(p[ACCIDENT_W], rt, exposure[i], cd)
            util[o] = total
        u = uniform(key_choice, rep * np.uint64(n) + np.uint64(i))
        o = _pick(util, avail, n_opt, p[RATIONALITY], u)
        m = opt_move[starts[i] + o]
        if m != hold:
            e_src[count] = i
            e_tgt[count] = opt_target[starts[i] + o]
            e_move[count] = m
            e_kind[count] = 0
            count += 1
    for s in range(scripted.shape[0]):
        a, m, t = scripted[s, 0], scripted[s, 1], scripted[s, 2]
        if _option_allowed(r, a, m, t, posts, conds, mask, anymask, ptgt):
            e_src[count] = a
            e_tgt[count] = t
            e_move[count] = m
            e_kind[count] = 1
            count += 1
    # ---- accidents between adversaries' forces in contact
    pair = 0
    for i in range(n):
        for j in range(i + 1, n):
            if risk[i, j] > 0.0:
                base = (rep * np.uint64(n * (n - 1) // 2) + np.uint64(pair)) * np.uint64(3)
                chance = -math.expm1(-p[HAZARD] * risk[i, j])
                if uniform(key_accident, base) < chance:
                    first = uniform(key_accident, base + np.uint64(1)) < 0.5
                    level = T[r, i, j] / 100.0
                    escalates = uniform(key_accident, base + np.uint64(2)) < p[ESCALATION] * level * level
                    e_src[count] = i if first else j
                    e_tgt[count] = j if first else i
                    e_move[count] = clash_move if escalates else incident
                    e_kind[count] = 2
                    count += 1
            pair += 1
    # ---- the day's effects: decay, events, standing postures
    decay_t = 1.0 - p[TENSION_DECAY]
    memory = 1.0 - p[RECIP_MEMORY]
    for i in range(n):
        X[r, i] *= memory
        A[r, i] *= 1.0 - p[AUDIENCE_DECAY]
        Med[r, i] *= 1.0 - p[MEDIATION_DECAY]
        C[r, i] *= 1.0 - p[RECOVERY]
        for j in range(n):
            T[r, i, j] *= decay_t
            H[r, i, j] *= memory
            Bk[r, i, j] *= 1.0 - p[ALLIANCE_MEMORY]
    for q in range(count):
        _apply(
            r,
            b,
            e_src[q],
            e_tgt[q],
            e_move[q],
            feats,
            posts,
            aff,
            lev,
            params,
            T,
            H,
            X,
            A,
            Bk,
            Med,
            held,
            ptgt,
            age,
            clashed,
            n,
        )
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
        out_posture[r, day, i] = level
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
    nev[r] = count
    if keep_events[r]:
        for q in range(count):
            ev[r, q, 0] = e_src[q]
            ev[r, q, 1] = e_tgt[q]
            ev[r, q, 2] = e_move[q]
            ev[r, q, 3] = e_kind[q]


@njit(cache=True)
def compact_events(ev, nev, keep, day):
    """The day's events of the kept replicates as rows (replicate row, day, actor, target, move, kind)."""
    total = 0
    for r in range(nev.shape[0]):
        if keep[r]:
            total += nev[r]
    out = np.empty((total, 6), dtype=np.int32)
    q = 0
    for r in range(nev.shape[0]):
        if keep[r]:
            for k in range(nev[r]):
                out[q, 0] = r
                out[q, 1] = day
                out[q, 2] = ev[r, k, 0]
                out[q, 3] = ev[r, k, 1]
                out[q, 4] = ev[r, k, 2]
                out[q, 5] = ev[r, k, 3]
                q += 1
    return out


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
        out[counts[r]] = table[q]
        counts[r] += 1
    return out
