"""Counter-based random streams: every draw is a function of (seed, replicate, day, purpose, slot).

One Philox key is derived per (seed, day, purpose) with numpy's SeedSequence;
replicate r owns the counter block starting at r * blocks_per_replicate. So
replicate k draws the same numbers whether it runs alone, in a batch of ten
thousand, in another process or on another machine, and building a generator
costs once per day and purpose, never per replicate (Salmon et al. 2011,
"Parallel random numbers: as easy as 1, 2, 3").
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    """Independent streams, one per kind of draw."""

    CHOICE = 1  # one uniform per actor: the logit draw
    ACCIDENT = 2  # three uniforms per ordered pair: occurrence, side, escalation
    PARAMETER = 3  # per-replicate parameter draws


_OUTPUTS_PER_COUNTER = 4  # Philox4x64 yields four 64-bit words per counter step


def _runs(replicates: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted-or-not replicate indices into contiguous runs (pos, first, length)."""
    out = []
    start = 0
    for k in range(1, len(replicates) + 1):
        if k == len(replicates) or replicates[k] != replicates[k - 1] + 1:
            out.append((start, int(replicates[start]), k - start))
            start = k
    return out


def uniforms(seed: int, day: int, purpose: Purpose, replicates: np.ndarray, width: int) -> np.ndarray:
    """Uniforms in [0, 1) of shape (len(replicates), width) for one day and purpose."""
    replicates = np.asarray(replicates, dtype=np.int64)
    steps = -(-width // _OUTPUTS_PER_COUNTER)  # counter steps per replicate
    per_rep = steps * _OUTPUTS_PER_COUNTER
    key = np.random.SeedSequence([int(seed), int(day), int(purpose)]).generate_state(2, np.uint64)
    out = np.empty((len(replicates), per_rep), dtype=np.uint64)
    for pos, first, length in _runs(replicates):
        bitgen = np.random.Philox(key=key, counter=[first * steps, 0, 0, 0])
        out[pos : pos + length] = bitgen.random_raw(length * per_rep).reshape(length, per_rep)
    # The top 53 bits of each word give a double in [0, 1), exactly as numpy does.
    return (out[:, :width] >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
