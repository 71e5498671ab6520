"""Batch-invariant reductions.

numpy may sum an axis in a different order depending on the array's other
dimensions (pairwise blocks for one row, column sweeps for many), which changes
the last bits of a float. Summing the small axes here one slice at a time keeps
every replicate's numbers identical whether it runs alone or in a batch.
"""

from __future__ import annotations

import numpy as np


def total(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum along `axis` in a fixed left-to-right order, the same for any batch size."""
    x = np.moveaxis(np.asarray(x), axis, 0)
    acc = np.array(x[0], dtype=np.result_type(x.dtype, np.float64))
    for k in range(1, x.shape[0]):
        acc = acc + x[k]
    return acc
