"""Counter-based random numbers: every draw is a pure function of (seed, day, purpose, replicate, slot).

A 64-bit key is derived once per (seed, day, purpose) with numpy's
SeedSequence; the draw for replicate r and slot s is the SplitMix64 output for
counter r * width + s under that key (Steele, Lea & Flood 2014, "Fast
splittable pseudorandom number generators"; the counter-based use follows
Salmon et al. 2011). So replicate k draws the same numbers whether it runs
alone, in a batch of ten thousand, in another process or on another machine,
and a draw costs a few integer operations: the compiled kernel computes only
the draws it needs, and the reference implementation computes the same ones
in plain Python.
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

import numpy as np
from numba import njit

GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
MASK = 0xFFFFFFFFFFFFFFFF
TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53: the top 53 bits make a double in [0, 1)


class Purpose(IntEnum):
    """Independent streams, one per kind of draw."""

    CHOICE = 1  # one uniform per actor: the logit draw
    ACCIDENT = 2  # three uniforms per dyad: occurrence, side, escalation
    PARAMETER = 3  # per-replicate parameter draws
    SAMPLE = 4  # which runs keep their event log
    BARGAIN = 5  # one uniform per principal party: accept the offer today?


@lru_cache(maxsize=4096)
def stream_key(seed: int, day: int, purpose: int) -> int:
    """The 64-bit key of one (seed, day, purpose) stream."""
    return int(np.random.SeedSequence([int(seed), int(day), int(purpose)]).generate_state(1, np.uint64)[0])


def uniform_py(key: int, counter: int) -> float:
    """One draw in plain Python (the reference implementation's way)."""
    z = (key + (counter + 1) * GAMMA) & MASK
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    z ^= z >> 31
    return (z >> 11) * TO_UNIT


@njit(cache=True)
def uniform(key: np.uint64, counter: np.uint64) -> float:
    """One draw, compiled: the same numbers as `uniform_py` (uint64 arithmetic wraps)."""
    z = key + (counter + np.uint64(1)) * np.uint64(GAMMA)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * TO_UNIT


def uniforms(seed: int, day: int, purpose: Purpose, replicates: np.ndarray, width: int) -> np.ndarray:
    """Draws of shape (len(replicates), width) for one day and purpose, vectorised."""
    key = np.uint64(stream_key(seed, day, int(purpose)))
    reps = np.asarray(replicates, dtype=np.uint64)
    counter = reps[:, None] * np.uint64(width) + np.arange(width, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        z = key + (counter + np.uint64(1)) * np.uint64(GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * TO_UNIT
