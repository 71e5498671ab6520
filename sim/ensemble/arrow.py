"""numpy columns as Arrow arrays without importing pandas.

`pa.array` first asks whether its input is a pandas object, and to ask it imports pandas: a fifth
of a second of CPU for `sim run`, spent on the spill thread while the engine runs (and on a small
run's save). Here a numeric column is wrapped as it is, zero-copy, as `pa.array` wraps it, and a
text column is taken from its labels by index: the same arrays, so the same files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

NUMERIC = "iuf"  # numpy kinds whose Arrow array is the numpy buffer itself (bool is packed in Arrow)


def pool() -> pa.MemoryPool:
    """The system allocator: it hands a chunk's memory back as soon as the chunk is written
    (pyarrow's default pool keeps it)."""
    return pa.system_memory_pool()


def numeric(values: np.ndarray) -> pa.Array:
    """A 1-D int, unsigned or float column as an Arrow array without nulls (NaN stays a value)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.dtype.kind not in NUMERIC or not values.dtype.isnative:
        raise ValueError(f"expected a 1-D numeric column, found {values.dtype} of shape {values.shape}")
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def column(values: np.ndarray) -> pa.Array:
    """Any numpy column as `pa.array` makes it: numeric ones without pandas, others through pa.array."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in NUMERIC:
        return numeric(values)
    return pa.array(np.ascontiguousarray(values), memory_pool=pool())


def labels(texts: Sequence[str]) -> pa.Array:
    """Text labels (actor ids, dates, ...) as an Arrow string array, to `pick` from."""
    return tiled(texts, 1)


def tiled(texts: Sequence[str], times: int) -> pa.Array:
    """`texts` over and over, `times` times, as an Arrow string array (a chunk's date column): what
    `pick` gives for the index 0..n-1 repeated, built from its buffers (pyarrow.compute, whose import
    takes a tenth of a second, is not needed)."""
    encoded = [str(t).encode() for t in texts]
    lengths = np.array([len(b) for b in encoded], dtype=np.int64)
    offsets = np.zeros(len(encoded) * times + 1, dtype=np.int64)
    np.cumsum(np.tile(lengths, times), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("more text than an Arrow string array holds")
    data = pa.py_buffer(b"".join(encoded) * times)
    return pa.Array.from_buffers(
        pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int32)), data]
    )


def pick(texts: pa.Array, index: np.ndarray) -> pa.Array:
    """The labels at `index`: what `pa.array(numpy_labels[index])` gives, object array of str and all.

    That includes an empty column's type, null (pa.array cannot tell the type of no objects), which the
    files written so far have.
    """
    if len(index) == 0:
        return pa.nulls(0)
    import pyarrow.compute as pc  # a tenth of a second to import: only where a table has events

    return pc.take(texts, numeric(np.asarray(index)), memory_pool=pool())
