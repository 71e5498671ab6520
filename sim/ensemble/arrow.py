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
import pyarrow.compute as pc

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
    encoded = [str(t).encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )


def pick(texts: pa.Array, index: np.ndarray) -> pa.Array:
    """The labels at `index`: what `pa.array(numpy_labels[index])` gives, object array of str and all.

    That includes an empty column's type, null (pa.array cannot tell the type of no objects), which the
    files written so far have.
    """
    if len(index) == 0:
        return pa.nulls(0)
    return pc.take(texts, numeric(np.asarray(index)), memory_pool=pool())
