"""Run folders read back (`sim explain`, `sim compare-events`), every file checked, and added to.

A run folder can be edited, truncated or copied in part after `sim run` wrote
it, so nothing in it is trusted: a missing or garbled manifest, scenario or
table is a one-line error naming the file and the field, and the posterior a
run drew from is read only from the copy inside the folder, never from a path
the manifest names.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import UserError, one_line
from sim.scenario.loader import load_scenario
from sim.scenario.schema import Scenario

POSTERIOR = "posterior.csv"  # the name of the posterior copy inside a run folder (results.Result.save)
MAX_MANIFEST_BYTES = 2**20


@dataclass
class RunFolder:
    """A run folder's scenario and manifest, checked against each other."""

    path: Path
    scenario: Scenario
    manifest: dict[str, Any]
    runs: int
    first: int  # the first replicate's index
    posterior: Path | None  # the folder's own posterior copy, if the runs drew from one

    @property
    def replicates(self) -> range:
        return range(self.first, self.first + self.runs)

    def check_run(self, run: int, field: str = "--run") -> int:
        """A replicate index of this folder, or a one-line error with the valid range."""
        if isinstance(run, bool) or not isinstance(run, (int, np.integer)) or run not in self.replicates:
            last = self.first + self.runs - 1
            raise UserError(
                f"expected a run from {self.first} to {last} (the folder holds "
                f"{self.runs} run{'s' if self.runs != 1 else ''}), "
                f"found {run}",
                field=field,
            )
        return int(run)

    def table(self, stem: str, columns: dict[str, str]) -> pd.DataFrame:
        """`stem`.csv or `stem`.parquet with these columns ("int", "float" or "str"), checked."""
        return read_table(self, stem, columns)


def open_run_folder(folder: str | Path) -> RunFolder:
    """Read and check a run folder's manifest.json and scenario.yaml."""
    folder = Path(folder)
    manifest_path, scenario_path = folder / "manifest.json", folder / "scenario.yaml"
    if not folder.is_dir() or not manifest_path.exists() or not scenario_path.exists():
        raise UserError("not a run folder (expected manifest.json and scenario.yaml)", source=str(folder))
    manifest = _read_manifest(manifest_path)
    scenario = load_scenario(scenario_path)
    shown = str(manifest_path)
    runs = _whole(manifest, "runs", shown, low=1)
    first = _whole(manifest, "first_replicate", shown, low=0, default=0)
    days = manifest.get("days", scenario.days)
    if days != scenario.days or isinstance(days, bool):
        raise UserError(
            f"expected the {scenario.days} days of scenario.yaml, found {days!r}", source=shown, field="days"
        )
    posterior = None
    named = manifest.get("posterior")
    if named is not None:
        if named != POSTERIOR:  # never follow a path out of the folder
            raise UserError(
                f"expected {POSTERIOR} (the copy kept in the run folder) or null, found {named!r}",
                source=shown,
                field="posterior",
            )
        posterior = folder / POSTERIOR
        if not posterior.is_file():
            raise UserError(
                "the runs drew their parameters from a posterior, but its copy is missing",
                source=str(posterior),
            )
    return RunFolder(folder, scenario, manifest, runs, first, posterior)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError("expected a regular file", source=str(path))
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise UserError(f"expected at most {MAX_MANIFEST_BYTES // 1024} kB of JSON", source=str(path))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"not valid JSON: {one_line(exc)}", source=str(path)) from None
    if not isinstance(manifest, dict):
        raise UserError(f"expected a JSON object, found {type(manifest).__name__}", source=str(path))
    return manifest


def _whole(manifest: dict, key: str, shown: str, *, low: int, default: int | None = None) -> int:
    value = manifest.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(
            f"expected a whole number of at least {low}, found {value!r}", source=shown, field=key
        )
    return value


def read_table(folder: RunFolder, stem: str, columns: dict[str, str]) -> pd.DataFrame:
    """A run table (CSV or Parquet) with the given columns, each checked; only those columns are read.

    "int" columns must hold whole numbers, "float" ones finite numbers, "str" ones
    text; `run` must name the folder's runs and `day` its days.
    """
    csv, parquet = folder.path / f"{stem}.csv", folder.path / f"{stem}.parquet"
    path = parquet if parquet.exists() else csv
    if not path.exists():
        raise UserError(f"expected {csv.name} or {parquet.name} in the run folder", source=str(folder.path))
    if not path.is_file():
        raise UserError("expected a regular file", source=str(path))
    names = list(columns)
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            found = pq.read_schema(path).names
            _check_columns(path, found, names)
            data = pd.read_parquet(path, columns=names)
        else:
            found = list(pd.read_csv(path, nrows=0, encoding="utf-8").columns)
            _check_columns(path, found, names)
            text = [c for c, kind in columns.items() if kind == "str"]
            data = pd.read_csv(
                path, usecols=names, dtype=dict.fromkeys(text, str), keep_default_na=False, encoding="utf-8"
            )
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise UserError("empty file; expected a table with a header row", source=str(path)) from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read the table: {one_line(exc)}", source=str(path)) from None
    for name, kind in columns.items():
        data[name] = _checked_column(data[name], kind, path, name)
    if "run" in columns and len(data):
        bad = ~data["run"].isin(folder.replicates)
        if bad.any():
            raise UserError(
                f"expected runs {folder.first} to {folder.first + folder.runs - 1} (manifest.json), "
                f"found {data['run'][bad].iloc[0]}",
                source=str(path),
                field="run",
            )
    if "day" in columns and len(data):
        bad = (data["day"] < 0) | (data["day"] >= folder.scenario.days)
        if bad.any():
            raise UserError(
                f"expected days 0 to {folder.scenario.days - 1} (scenario.yaml), "
                f"found {data['day'][bad].iloc[0]}",
                source=str(path),
                field="day",
            )
    return data


def _check_columns(path: Path, found: list[str], needed: list[str]) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise UserError(
            f"expected columns {', '.join(needed)}; missing {', '.join(missing)}", source=str(path)
        )


def _checked_column(values: pd.Series, kind: str, path: Path, name: str) -> pd.Series:
    if kind == "str":
        return values.astype(str)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(numbers)
    if kind == "int":
        bad |= numbers != np.round(numbers)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = "whole numbers" if kind == "int" else "finite numbers"
        found = values.iloc[row]
        found = found.item() if isinstance(found, np.generic) else found
        raise UserError(f"expected {what}, found {found!r} in row {row + 1}", source=str(path), field=name)
    return pd.Series(numbers.astype(int) if kind == "int" else numbers, index=values.index)


def write_files(folder: str | Path, writers: dict[str, Callable[[Path], object]]) -> list[Path]:
    """Write several files into `folder` so that they all appear, or none does.

    Each writer gets a path in a hidden temporary folder beside the targets;
    only when every one has succeeded are they moved into place. On any
    error (a full disk, Ctrl-C) the temporary folder goes, and a folder this
    call created goes too, so nothing half-written is left behind.
    """
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".sim-", suffix=".partial", dir=folder))
    except OSError as exc:
        raise UserError(f"cannot write here: {exc.strerror or one_line(exc)}", source=str(folder)) from None
    try:
        for name, write in writers.items():
            try:
                write(tmp / name)
            except OSError as exc:
                raise UserError(
                    f"cannot write: {exc.strerror or one_line(exc)}", source=str(folder / name)
                ) from None
        targets = []
        for name in writers:
            os.replace(tmp / name, folder / name)
            targets.append(folder / name)
        return targets
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
