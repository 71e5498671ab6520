"""`sim run` without pandas: each table, file and number it makes without pandas is pandas' to the bit.

The run reads its posterior (`sim.scenario.plain_csv`), builds its Arrow tables (`sim.ensemble.arrow`),
writes outcomes.csv and dates its days without pandas; each test compares one of those with what
pandas (or pyarrow given pandas' objects) makes of the same input.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sim import runner
from sim.ensemble import arrow
from sim.ensemble.posterior import _checked_numbers, posterior_columns
from sim.ensemble.tables import EVENT_KINDS, Layout
from sim.model.spec import compile_spec
from sim.results.outcomes import write_outcomes
from sim.scenario.loader import load_scenario
from sim.scenario.plain_csv import exact_cell, plain_numbers
from sim.scenario.point_values import PREFIXES

from .conftest import SCENARIOS


def _bits(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def _cells(seed: int, n: int) -> list[str]:
    """Decimals as calibrations and people write them: %g, %.6g, %.15g, %e, whole numbers, leading zeros."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = rng.uniform(-1, 1) * 10 ** rng.randint(-25, 25)
        fmt = rng.choice(["%g", "%.6g", "%.15g", "%.10e", "%.3f", "%d", "%.15f", "%.17g", "%r"])
        text = fmt % x if fmt != "%r" else repr(x)
        if rng.random() < 0.05:
            text = "00" + text.lstrip("-")
        out.append(text)
    return out


def test_a_cell_read_without_pandas_is_the_double_pandas_reads(tmp_path):
    cells = _cells(0, 6000)
    exact = [c for c in cells if exact_cell(c)]
    assert 1000 < len(exact) < len(cells)  # control: both kinds are there
    path = tmp_path / "numbers.csv"
    path.write_text("mechanisms.x\n" + "\n".join(exact) + "\n")
    ours = plain_numbers(path, PREFIXES, "weight")
    theirs = pd.read_csv(path)["mechanisms.x"].to_numpy(float)
    assert ours is not None
    assert np.array_equal(_bits(ours["mechanisms.x"]), _bits(theirs))


LEFT_TO_PANDAS = ["-0", "-0.000", "1e23", "1.5e-30", "12345678901234567", "0.0000000000000000012", " 1", "+1"]


@pytest.mark.parametrize("cell", LEFT_TO_PANDAS)
def test_a_cell_pandas_might_read_otherwise_is_left_to_pandas(cell, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text(f"mechanisms.x,weight\n1,1\n{cell},1\n")
    assert not exact_cell(cell)
    assert plain_numbers(path, PREFIXES, "weight") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mechanisms.x,weight\n",  # no rows
        "x,weight\n1,1\n",  # no parameter columns
        "mechanisms.x,mechanisms.x\n1,2\n",  # pandas renames the second
        "mechanisms.x,\n1,2\n",  # an unnamed column
        "mechanisms.x,weight\n1,1\n\n2,1\n",  # a blank line
        "mechanisms.x,weight\r\n1,1\r\n",
        '"mechanisms.x",weight\n1,1\n',
        "\ufeffmechanisms.x,weight\n1,1\n",
        "mechanisms.x,weight\n1,1,1\n",  # a row longer than the header
        "mechanisms.x,weight\n1\n",
        "mechanisms.x,weight\nnan,1\n",
        "mechanisms.x,weight\n1,NA\n",
    ],
)
def test_a_file_that_is_not_plain_numbers_is_left_to_pandas(text, tmp_path):
    path = tmp_path / "post.csv"
    path.write_text(text)
    assert plain_numbers(path, PREFIXES, "weight") is None


def test_a_plain_file_gives_the_columns_in_pandas_order_weight_last(tmp_path):
    path = tmp_path / "post.csv"
    path.write_text("weight,note,roles.a,mechanisms.b\n2,x,0.5,1e-3\n1,y,1.5,2\n")
    ours = plain_numbers(path, PREFIXES, "weight")
    assert ours is not None and list(ours) == ["roles.a", "mechanisms.b", "weight"]
    theirs = _checked_numbers(path, str(path))
    assert list(theirs) == list(ours)
    for name in ours:
        assert np.array_equal(_bits(ours[name]), _bits(theirs[name]))


@pytest.mark.parametrize("name", ["kosovo_2021.csv", "library.csv"])
def test_the_bundled_posteriors_read_without_pandas_are_pandas_numbers(name):
    path = SCENARIOS / "posteriors" / name
    assert plain_numbers(path, PREFIXES, "weight") is not None  # control: the fast path reads them
    ours = posterior_columns(path)
    theirs = _checked_numbers(path, str(path))
    assert list(ours) == [*[n for n in theirs if n != "weight"], "weight"]
    for key in theirs:
        assert np.array_equal(_bits(ours[key]), _bits(theirs[key])), key


def test_outcomes_csv_is_the_file_pandas_writes(tmp_path):
    result = runner.run("kosovo_2021", runs=400, days=40, events="none")
    resolution = result.outcomes["resolution_day"]
    assert resolution.isna().any() and resolution.notna().any()  # control: both kinds of run
    write_outcomes(tmp_path / "ours.csv", result._outcome_columns, "%.4f")
    result.outcomes.to_csv(tmp_path / "pandas.csv", index=False, float_format="%.4f")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


@pytest.mark.parametrize(
    "values",
    [
        np.arange(7, dtype=np.int64),
        np.arange(7, dtype=np.int32)[::2],
        np.array([0.5, np.nan, -0.0, np.inf]),
        np.zeros(0),
        np.linspace(0, 1, 12).reshape(3, 4)[:, 1],
    ],
)
def test_a_numeric_column_is_the_array_pyarrow_makes(values):
    ours, theirs = arrow.column(values), pa.array(np.ascontiguousarray(values))
    assert ours.type == theirs.type and ours.null_count == theirs.null_count == 0
    assert len(ours) == len(theirs) and theirs.buffers()[0] is None  # no validity bitmap
    assert ours.buffers()[1].to_pybytes() == theirs.buffers()[1].to_pybytes()  # NaN and -0.0 too


@pytest.mark.parametrize("index", [[2, 0, 0, 1], [], [1]])
def test_a_text_column_picked_from_labels_is_the_array_pyarrow_makes(index):
    labels = np.array(["serbia", "kosovo", 'ČŽ, "quoted"'], dtype=object)
    index = np.array(index, dtype=np.int64)
    ours, theirs = arrow.pick(arrow.labels(labels), index), pa.array(labels[index])
    assert ours.type == theirs.type and ours.equals(theirs)


@pytest.mark.parametrize("times", [1, 3, 0])
def test_a_tiled_text_column_is_the_array_pyarrow_makes(times):
    days = np.array(["2021-09-20", "2021-09-21", "Ž"], dtype=object)
    ours, theirs = arrow.tiled(days, times), pa.array(np.tile(days, times), type=pa.string())
    assert ours.type == theirs.type and ours.equals(theirs)


@pytest.mark.parametrize("start", [dt.date(2021, 9, 20), dt.date(2020, 2, 27), dt.date(1999, 12, 30)])
def test_the_days_are_dated_as_pandas_dates_them(start):
    spec = compile_spec(load_scenario("kosovo_2021"))
    layout = Layout(spec, start, 400)
    expected = pd.date_range(start, periods=400, freq="D").strftime("%Y-%m-%d")
    assert layout.date_text.tolist() == list(expected)
    assert layout.dates.equals(pd.date_range(start, periods=400, freq="D"))
    assert len(layout.kinds) == len(EVENT_KINDS)
