"""The CAMEO event codes and their Goldstein weights, shipped inside the package."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


def _table(name: str) -> dict[str, str]:
    with resources.files("sim.data").joinpath(name).open(encoding="utf-8") as fh:
        rows = csv.reader(fh)
        next(rows)
        return {code: value for code, value in rows}


@cache
def goldstein_table() -> dict[str, float]:
    """CAMEO code -> Goldstein weight (GDELT's lookup; see data/PROVENANCE.md)."""
    return {code: float(value) for code, value in _table("cameo_goldstein.csv").items()}


@cache
def label_table() -> dict[str, str]:
    """CAMEO code -> description."""
    return _table("cameo_codes.csv")


def _lookup(code: str, table: dict):
    # A four-digit code missing from the table falls back to its parent, then its root.
    for candidate in (code, code[:3], code[:2]):
        if candidate in table:
            return table[candidate]
    raise KeyError(code)


def goldstein(code: str) -> float:
    """Goldstein weight of a CAMEO code, falling back to the parent code."""
    return _lookup(code, goldstein_table())


def label(code: str) -> str:
    """Description of a CAMEO code, falling back to the parent code."""
    return _lookup(code, label_table())


def quad_class(code: str) -> int:
    """CAMEO quad class: 1 verbal and 2 material cooperation, 3 verbal and 4 material conflict."""
    root = int(code[:2])
    if root <= 5:
        return 1
    if root <= 9:
        return 2
    if root <= 14:
        return 3
    return 4


# the rung of the escalation ladder of each CAMEO root (index 0..20): 0 cooperation (01-09), 1 verbal
# conflict (10-13), 2 coercion (14-17), 3 violence (18-20); index 0 is a move without a code. The rungs'
# names are the model's (sim.model.mechanisms.RUNGS); the one table for the engine, records and fits
RUNG_OF_ROOT = (0,) * 10 + (1,) * 4 + (2,) * 4 + (3,) * 3
VIOLENCE = 3  # the rung of armed force (CAMEO 18-20)


def known(code: str) -> bool:
    """Whether the tables hold the code, its parent or its root (CAMEO's roots are 01-20)."""
    try:
        _lookup(code, label_table())
    except KeyError:
        return False
    return True


def rung(code: str | None) -> int:
    """Ladder rung of a CAMEO code (0 for a move without one)."""
    return RUNG_OF_ROOT[int(code[:2])] if code else 0
