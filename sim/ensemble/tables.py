"""Tables out: the trajectory and event tables, built and written a block of runs at a time.

Ten thousand runs of 180 days are 1.8 million trajectory rows; they are never
one DataFrame. Small ensembles keep their arrays in memory; large ones spill
their trajectories to disk as the blocks finish, in chunks of exactly
RUNS_PER_CHUNK runs, so the file is the same however the runs were executed,
and CSV output is written from the same chunks. The spill is Arrow IPC (fast
to write and to read back) or, when the run folder will hold Parquet, the
run folder's Parquet file itself, row group by row group: saving then places
that file instead of reading the spill back and encoding it a second time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import check_interrupted
from sim.model.spec import EVENT_KINDS, Spec

if TYPE_CHECKING:
    import pandas as pd

Columns = dict[str, np.ndarray]  # a chunk of a table as named columns: what the writers take, no pandas

RUNS_PER_CHUNK = 500  # runs per row group / per block of CSV rows
SPILL_FORMATS = ("arrow", "parquet")


class Layout:
    """Column names and labels shared by every chunk of a run's tables.

    The writers take pyarrow Tables built without pandas (`sim.ensemble.arrow`), so that `sim run`
    never imports it (a fifth of a second); the DataFrames are for the Python API.
    """

    def __init__(self, spec: Spec, start: dt.date, days: int):
        ids = spec.actor_ids
        self.days = days
        self.start = start
        # YYYY-MM-DD of each day (what pandas' strftime gave: the same strings)
        first = np.datetime64(start, "D")
        self.date_text = np.datetime_as_string(first + np.arange(days), unit="D").astype(object)
        self.dyads = [f"{ids[i]}-{ids[j]}" for i, j in spec.pairs()]
        self.actors = list(ids)
        self.ids = np.array(ids, dtype=object)
        self.moves = np.array(spec.moves.ids, dtype=object)
        self.cameo = np.array([c or "" for c in spec.moves.cameo], dtype=object)
        self.goldstein = spec.moves.goldstein
        self.kinds = np.array(EVENT_KINDS, dtype=object)
        # the actors' CAMEO actor codes ("" for an actor without one): an event log read back as
        # event data (`sim compare-events`) finds its actors by code, as it does in real event data
        self.codes = np.array([spec.scenario.actors[a].code or "" for a in ids], dtype=object)
        # a code is free text: one with a comma, a quote or a line break needs quoted CSV fields
        self.codes_need_quotes = any(set(c) & set(',"\r\n') for c in self.codes)

    @cached_property
    def dates(self) -> pd.DatetimeIndex:
        """The days as a DatetimeIndex (for the Python API; pandas is imported on first use)."""
        import pandas as pd

        return pd.date_range(self.start, periods=self.days, freq="D")

    @cached_property
    def _labels(self) -> dict[str, object]:
        """The label arrays as Arrow string arrays, to take the text columns from (made on first use)."""
        from sim.ensemble import arrow

        texts = ("date_text", "ids", "moves", "cameo", "kinds", "codes")
        return {name: arrow.labels(getattr(self, name)) for name in texts}

    def trajectory_columns(
        self,
        runs: np.ndarray,
        tension: np.ndarray,
        dyads: np.ndarray,
        posture: np.ndarray,
        date: object | None = None,
    ) -> Iterator[tuple[str, object]]:
        """Columns of rows (run, day), one at a time: global tension, each dyad's, each actor's posture.

        `date`: the date column, if made already (by default, the dates' text tiled).
        """
        r, t = tension.shape
        yield "run", np.repeat(runs, t)
        yield "day", np.tile(np.arange(t), r)
        yield "date", np.tile(self.date_text, r) if date is None else date
        yield "tension", tension.reshape(-1)
        for k, name in enumerate(self.dyads):
            yield f"tension_{name}", dyads[:, :, k].reshape(-1)
        for i, actor in enumerate(self.actors):
            yield f"posture_{actor}", posture[:, :, i].reshape(-1)

    def trajectory_arrow(
        self, runs: np.ndarray, tension: np.ndarray, dyads: np.ndarray, posture: np.ndarray
    ) -> object:
        """The same columns as a pyarrow Table (the one every spilled chunk and Parquet row group is).

        The date column is built from the days' labels as Arrow buffers, not converted from a tiled
        array of Python strings: the same column, several times faster.
        """
        from sim.ensemble import arrow

        dates = arrow.tiled(self.date_text, len(runs))
        return arrow_table(self.trajectory_columns(runs, tension, dyads, posture, dates))

    def events(self, runs: np.ndarray, table: np.ndarray) -> pd.DataFrame:
        """Rows of the event log as a DataFrame (see event_columns)."""
        import pandas as pd

        return pd.DataFrame(self.event_columns(runs, table))

    def event_arrow(self, runs: np.ndarray, table: np.ndarray) -> object:
        """The event_columns as a pyarrow Table (without pandas): the text columns taken from their labels."""
        from sim.ensemble import arrow

        text = self._labels
        columns = self._event_columns(runs, table, lambda name, index: arrow.pick(text[name], index))
        return arrow_table(columns)

    def event_columns(self, runs: np.ndarray, table: np.ndarray) -> Columns:
        """Rows of the event log; `table` columns: run row, day, actor, target, move, kind."""
        return self._event_columns(runs, table, lambda name, index: getattr(self, name)[index])

    def _event_columns(self, runs: np.ndarray, table: np.ndarray, take) -> dict[str, object]:
        """The event log's columns, each text column `take(label_array_name, index)`."""
        return {
            "run": runs[table[:, 0]],
            "day": table[:, 1],
            "date": take("date_text", table[:, 1]),
            "actor": take("ids", table[:, 2]),
            "target": take("ids", table[:, 3]),
            "move": take("moves", table[:, 4]),
            "cameo": take("cameo", table[:, 4]),
            "goldstein": self.goldstein[table[:, 4]],
            "kind": take("kinds", table[:, 5]),
            "actor_code": take("codes", table[:, 2]),
            "target_code": take("codes", table[:, 3]),
        }


class TrajectoryStore:
    """All runs' trajectories: arrays in memory, or a spill to disk for large ensembles.

    `spill_format` is the spill's: "arrow" (Arrow IPC, uncompressed) or "parquet" (the bytes the
    run folder's trajectories.parquet has, so `write` places the file instead of encoding it again).
    Each chunk's table is built (a column per dyad and actor, copied out of the blocks' arrays) and
    written on a thread of its own, one chunk at a time and in order, while the next block of runs is
    simulated: numpy's copies and pyarrow's encoding (without the GIL) use a core the kernel leaves
    idle between and within blocks, instead of the kernel waiting for them.
    """

    def __init__(self, layout: Layout, spill: bool, spill_format: str = "arrow"):
        if spill_format not in SPILL_FORMATS:
            raise ValueError(f"unknown spill format {spill_format!r}; expected arrow or parquet")
        self.layout = layout
        self.spill = spill
        self.spill_format = spill_format
        self._arrays: list[tuple[np.ndarray, ...]] = []
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._pending_runs = 0
        self._writer = None
        self._writing = None  # the chunk being written in the background (at most one)
        self._thread = None
        self._dir: tempfile.TemporaryDirectory | None = None
        self.path: Path | None = None

    def add(self, runs: np.ndarray, tension: np.ndarray, dyads: np.ndarray, posture: np.ndarray) -> None:
        """Take the next block of runs (blocks arrive in run order)."""
        if not self.spill:
            self._arrays.append((runs, tension, dyads, posture))
            return
        self._pending.append((runs, tension, dyads, posture))
        self._pending_runs += len(runs)
        if self._pending_runs >= RUNS_PER_CHUNK:
            self._flush(final=False)

    def finish(self) -> None:
        """Write what is left (spill mode)."""
        if self.spill:
            self._flush(final=True)
            self._written()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._stop_thread()

    def _flush(self, final: bool) -> None:
        if not self._pending:
            return
        if len(self._pending) == 1:
            runs, tension, dyads, posture = self._pending[0]
        else:
            runs, tension, dyads, posture = (np.concatenate(p) for p in zip(*self._pending, strict=True))
        cut = len(runs) if final else (len(runs) // RUNS_PER_CHUNK) * RUNS_PER_CHUNK
        for lo in range(0, cut, RUNS_PER_CHUNK):
            part = slice(lo, min(lo + RUNS_PER_CHUNK, cut))
            self._write((runs[part], tension[part], dyads[part], posture[part]))
        rest = slice(cut, len(runs))
        self._pending = [(runs[rest], tension[rest], dyads[rest], posture[rest])] if cut < len(runs) else []
        self._pending_runs = len(runs) - cut

    def _write(self, chunk: tuple[np.ndarray, ...]) -> None:
        """Hand a chunk of runs to the background thread, after the one before it is written.

        Chunks go in order, one at a time: the file is the same as written inline. The blocks' arrays
        are not written to after they are added, so the thread reads them as they are.
        """
        from concurrent.futures import ThreadPoolExecutor

        self._written()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-spill")
        self._writing = self._thread.submit(self._table_out, chunk)

    def _table_out(self, chunk: tuple[np.ndarray, ...]) -> None:
        """Build a chunk's table and write it (on the background thread)."""
        import pyarrow as pa

        table = self.layout.trajectory_arrow(*chunk)
        if self._writer is None:
            self._dir = tempfile.TemporaryDirectory(prefix="sim-trajectories-")
            self.path = Path(self._dir.name) / f"trajectories.{self.spill_format}"
            if self.spill_format == "parquet":  # the run folder's file, a row group per chunk
                self._writer = parquet_writer(self.path, table.schema)
            else:  # uncompressed Arrow IPC: written at memory speed, read back in chunks
                self._writer = pa.ipc.new_file(str(self.path), table.schema)
        self._writer.write_table(table)

    def _written(self) -> None:
        """Wait for the chunk in the background, if any; its error (a full disk, say) is raised here."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None

    def close(self) -> None:
        """Delete the spilled table now (it cannot be read afterwards) rather than at exit."""
        with contextlib.suppress(Exception):  # closing after an error: that error is the one reported
            self._written()
        self._stop_thread()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self.path = None

    def _spilled_tables(self):
        import pyarrow as pa

        if self.path is None:
            return
        if self.spill_format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(str(self.path)) as source:
                for batch in source.iter_batches(batch_size=RUNS_PER_CHUNK * self.layout.days):
                    yield pa.Table.from_batches([batch])
            return
        # Read one record batch at a time into the system allocator, which hands it back as soon as
        # the batch is written; a memory map would keep every page read resident until the end.
        with pa.OSFile(str(self.path), "rb") as source:
            reader = pa.ipc.open_file(source, memory_pool=_pool())
            for k in range(reader.num_record_batches):
                yield pa.Table.from_batches([reader.get_batch(k)])

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The trajectory table, RUNS_PER_CHUNK runs at a time, in run order."""
        import pandas as pd

        if self.spill:
            for table in self._spilled_tables():
                yield table.to_pandas()
            return
        for arrays in self._memory_chunks():
            yield pd.DataFrame(dict(self.layout.trajectory_columns(*arrays)))

    def arrow_chunks(self) -> Iterator[object]:
        """The trajectory table as pyarrow Tables (what the writers take), RUNS_PER_CHUNK runs at a time."""
        if self.spill:
            yield from self._spilled_tables()
            return
        for arrays in self._memory_chunks():
            yield self.layout.trajectory_arrow(*arrays)

    def _memory_chunks(self) -> Iterator[tuple[np.ndarray, ...]]:
        """(runs, tension, dyads, posture) of RUNS_PER_CHUNK runs at a time, of a table kept in memory."""
        # chunks of RUNS_PER_CHUNK runs however the blocks were cut, each assembled from the blocks'
        # slices, so the table is never copied whole
        pending: list[tuple[np.ndarray, ...]] = []
        count = 0
        for block in self._arrays:
            lo, n = 0, len(block[0])
            while lo < n:
                take = min(RUNS_PER_CHUNK - count, n - lo)
                pending.append(tuple(a[lo : lo + take] for a in block))
                lo += take
                count += take
                if count == RUNS_PER_CHUNK:
                    yield self._chunk(pending)
                    pending, count = [], 0
        if pending:
            yield self._chunk(pending)

    def dyad(self, k: int) -> np.ndarray:
        """Dyad k's tension, (runs, days), of a table kept in memory."""
        if self.spill:
            raise ValueError("a spilled table keeps no dyads in memory")
        parts = [block[2][:, :, k] for block in self._arrays]
        return np.concatenate(parts) if len(parts) != 1 else np.ascontiguousarray(parts[0])

    @staticmethod
    def _chunk(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
        return parts[0] if len(parts) == 1 else tuple(np.concatenate(p) for p in zip(*parts, strict=True))

    def frame(self) -> pd.DataFrame:
        """The whole table at once (for notebooks; large ensembles are better read in chunks)."""
        import pandas as pd

        parts = list(self.chunks())
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def write(self, stem: Path, data: str, float_format: str) -> None:
        """Write `stem`.csv or `stem`.parquet, a chunk of runs at a time.

        A Parquet spill is already that file: it is hard-linked into place (a copy where the
        folder is on another file system), neither read back nor encoded again.
        """
        if data == "parquet" and self.spill and self.spill_format == "parquet" and self.path is not None:
            target = stem.with_suffix(".parquet")
            try:
                os.link(self.path, target)
            except OSError:
                shutil.copyfile(self.path, target)
        else:
            write_chunks(stem, self.arrow_chunks(), data, float_format)


def _pool():
    from sim.ensemble.arrow import pool

    return pool()


def parquet_writer(path: Path, schema) -> object:
    """The one way Parquet tables are written (the spill and the run folder's files must match).

    Dictionary encoding only for the columns that repeat (ids, days, dates, labels): on the float
    columns (tensions, postures) it costs two thirds of the encoding time and saves 8% of the file.
    Statistics (each row group's minimum and maximum) likewise: they let a reader skip row groups by
    run, day or actor; on the float columns they would cost a seventh of the encoding time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    repeated = [f.name for f in schema if not pa.types.is_floating(f.type)]
    return pq.ParquetWriter(
        path, schema, memory_pool=_pool(), use_dictionary=repeated, write_statistics=repeated
    )


def arrow_table(columns) -> object:
    """A pyarrow Table from named columns (no pandas metadata, so every path writes the same bytes).

    Columns are converted one at a time (`sim.ensemble.arrow.column`: numeric ones without pandas)
    into the system allocator, which hands memory back as soon as a chunk is written.
    """
    import pyarrow as pa

    from sim.ensemble.arrow import column

    if isinstance(columns, pa.Table):
        return columns
    pairs = columns.items() if hasattr(columns, "items") else columns  # a dict or DataFrame, or pairs
    return pa.table(
        {name: values if isinstance(values, pa.Array) else column(values) for name, values in pairs}
    )


def _rows(chunks):
    """The chunks as tables, leaving out empty ones unless every chunk is empty (then the first).

    An empty chunk's text columns have no type (null): written after or before a chunk with rows,
    its schema would not match the file's (a block of runs with no sampled event did that).
    """
    empty, wrote = None, False
    for chunk in chunks:
        check_interrupted()
        table = arrow_table(chunk)
        if table.num_rows:
            wrote = True
            yield table
        elif empty is None:
            empty = table
    if not wrote and empty is not None:
        yield empty


def write_csv(path: Path, chunks, decimals: int, *, quote: bool = False) -> None:
    """CSV through pyarrow's writer (fast), floats rounded to `decimals`, one header.

    Fields are written without quotes (ids, dates and codes need none) unless `quote`:
    then every text field is quoted, for text that holds commas, quotes or line breaks.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    writer = None
    with open(path, "wb") as fh:
        try:
            for table in _rows(chunks):
                columns = [
                    pc.round(c, decimals) if pa.types.is_floating(c.type) else c for c in table.columns
                ]
                table = pa.table(columns, names=table.column_names)
                if writer is None:
                    fh.write((",".join(table.column_names) + "\n").encode())
                    options = pcsv.WriteOptions(
                        include_header=False, quoting_style="needed" if quote else "none"
                    )
                    writer = pcsv.CSVWriter(fh, table.schema, write_options=options)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def write_chunks(stem: Path, chunks, data: str, float_format: str, *, quote: bool = False) -> None:
    """Write a table given as chunks (named columns, pyarrow Tables or DataFrames), as CSV (one header)
    or Parquet (one row group each)."""
    if data == "csv":
        write_csv(stem.with_suffix(".csv"), chunks, decimals=int(float_format.strip("%f.")), quote=quote)
        return
    writer = None
    try:
        for table in _rows(chunks):
            if writer is None:
                writer = parquet_writer(stem.with_suffix(".parquet"), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
