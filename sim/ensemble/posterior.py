"""Posterior files in: each replicate draws its parameters from a weighted posterior (`sim calibrate`).

A posterior file comes from outside the program (a calibration, a colleague, an
edited copy), so every cell is checked before a replicate draws from it: a bad
file is a one-line error naming the file, the column and the row, never a run
with NaN parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import UserError, one_line, regular_file
from sim.scenario.batch import validate_batch
from sim.scenario.plain_csv import plain_numbers
from sim.scenario.point_values import PREFIXES, rounded, weighted_median
from sim.scenario.schema import Scenario

if TYPE_CHECKING:
    import pandas as pd

MAX_POSTERIOR_BYTES = 64 * 2**20  # a calibration writes a few hundred rows; refuse anything absurd


def read_posterior(path: str | Path, scenario: Scenario | None = None) -> pd.DataFrame:
    """The posterior's mechanisms.* columns and `weight` (1 when absent), every value checked.

    With `scenario`, every row is also held to the schema's bounds (`validate_batch`),
    so a bad row is refused even when no replicate would draw it.
    """
    import pandas as pd

    return pd.DataFrame(posterior_columns(path, scenario))


def posterior_columns(path: str | Path, scenario: Scenario | None = None) -> dict[str, np.ndarray]:
    """read_posterior's columns as arrays, without pandas where the file is plain numbers (see
    `sim.scenario.plain_csv`): what `sim run` reads before every run of a scenario with a posterior."""
    shown = str(path)
    path = regular_file(path, "a posterior.csv from `sim calibrate`")
    if path.stat().st_size > MAX_POSTERIOR_BYTES:
        raise UserError(
            f"expected a posterior file of at most {MAX_POSTERIOR_BYTES // 2**20} MB, "
            f"found {path.stat().st_size / 2**20:.0f} MB",
            source=shown,
        )
    numbers = plain_numbers(path, PREFIXES, "weight")
    if numbers is None:  # anything else, with pandas' reading and every error as one line
        numbers = _checked_numbers(path, shown)
    weight = numbers.pop("weight", np.ones(len(next(iter(numbers.values())))))
    if (weight < 0).any() or weight.sum() <= 0:
        raise UserError("expected weights of 0 or more that do not all vanish", source=shown, field="weight")
    if scenario is not None:
        numbers = validate_batch(scenario, numbers, shown)
    return {**numbers, "weight": weight}


def _checked_numbers(path: Path, shown: str) -> dict[str, np.ndarray]:
    """The parameter columns (and `weight`) of any CSV pandas reads, or a one-line error."""
    import pandas as pd

    try:
        table = pd.read_csv(path, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise UserError("empty file; expected a posterior.csv from `sim calibrate`", source=shown) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise UserError(f"cannot read as CSV: {one_line(exc)}", source=shown) from None
    names = [c for c in table.columns if str(c).startswith(("mechanisms.", "roles."))]
    if not names:
        raise UserError(
            "expected columns named mechanisms.* or roles.* (a posterior.csv from `sim calibrate`)",
            source=shown,
        )
    if table.empty:
        raise UserError("expected at least one row (one particle of the posterior)", source=shown)
    columns = [*names, "weight"] if "weight" in table.columns else names
    numbers = {}
    for name in columns:
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = int(bad[0])
            raise UserError(
                f"expected finite numbers, found {table[name].iloc[row]!r} in row {row + 1}",
                source=shown,
                field=name,
            )
        numbers[name] = values
    return numbers


def point_values(posterior: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, float]:
    """The values a scenario carries beside its posterior (what `--point-values` runs): the weighted
    medians to two significant digits, since the posterior is far wider than any third digit."""
    w = np.asarray(posterior["weight"], dtype=float).tolist()
    return {
        name: rounded(weighted_median(np.asarray(posterior[name], dtype=float).tolist(), w))
        for name in posterior
        if name != "weight"
    }


def draw_posterior(
    path: str | Path, replicates: np.ndarray, seed: int, scenario: Scenario | None = None
) -> dict[str, np.ndarray]:
    """Per-replicate parameter values drawn from a posterior file (weighted), batch-invariantly.

    With `scenario`, a parameter is drawn only where the scenario still holds the posterior's point
    value: a variant, a slider or a `--set` that changed it keeps its own value in every replicate.
    """
    from sim.model.rng import Purpose, uniforms
    from sim.scenario.batch import value_at

    posterior = posterior_columns(path, scenario)
    names = [c for c in posterior if c != "weight"]
    if scenario is not None:
        points = point_values(posterior)
        names = [n for n in names if np.isclose(value_at(scenario, n), points[n], rtol=1e-9, atol=0.0)]
    w = np.asarray(posterior["weight"], dtype=float)
    cdf = np.cumsum(w) / w.sum()
    u = uniforms(seed, 0, Purpose.PARAMETER, replicates, 1)[:, 0]
    rows = np.minimum(np.searchsorted(cdf, u, side="right"), len(w) - 1)
    return {name: np.asarray(posterior[name], dtype=float)[rows] for name in names}


def scenario_draws(scenario, replicates: np.ndarray) -> dict[str, np.ndarray]:
    """The draws from the posterior the scenario names (none if it names none): what `run` uses by default."""
    if not scenario.posterior:
        return {}
    from sim.scenario.loader import locate

    path = locate(scenario, scenario.posterior, field="posterior")
    return draw_posterior(path, np.asarray(replicates), scenario.seed, scenario)
