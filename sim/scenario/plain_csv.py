"""A CSV of plain numbers read without pandas, to the bit as pandas reads it, or not at all.

`sim run` reads a posterior (a few hundred rows of numbers) before the runs of every scenario that
names one, and importing pandas for it costs a fifth of a second of the command's start-up. A file
as `sim calibrate` writes it (a header, then rows of decimals such as 0.0104646 or 1.50829e-05) is
read here with float(); for anything else `plain_numbers` returns None and the caller reads the
file with pandas, whose reading and error messages stay the rule.

Why float() gives pandas' bits on such cells: pandas' C parser (`precise_xstrtod`) gathers up to
17 digits into a double, then multiplies or divides it once by a power of ten taken from a table.
With at most 15 significant digits that integer is exact (below 2**53), and with a decimal exponent
of at most 22 the power of ten is exact, so the one operation rounds correctly: to the double
nearest the decimal, which is float()'s answer. Every other cell is left to pandas.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# a decimal: optional minus, digits with an optional point (or a point and digits), optional exponent
_CELL = re.compile(r"-?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d{1,3}))?")
_MAX_DIGITS = 17  # the digits pandas' parser gathers before it drops the rest
_EXACT_DIGITS = 15  # significant digits whose integer a double holds exactly
_EXACT_POWER = 22  # 10**22 is the largest power of ten a double holds exactly


def exact_cell(cell: str) -> bool:
    """Whether float(cell) is the double pandas reads from `cell` (see the module's docstring)."""
    match = _CELL.fullmatch(cell)
    if match is None:
        return False
    whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
    digits = whole + fraction
    if not digits or len(digits) > _MAX_DIGITS or len(digits.lstrip("0")) > _EXACT_DIGITS:
        return False
    if cell.startswith("-") and not digits.strip("0"):
        return False  # -0: a column of whole numbers is int64 in pandas, and its zero has no sign
    return abs(int(exponent or 0) - len(fraction)) <= _EXACT_POWER


def plain_numbers(path: Path, prefixes: tuple[str, ...], extra: str) -> dict[str, np.ndarray] | None:
    """The columns named with one of `prefixes` (in the file's order), then `extra` if the file has it,
    as float arrays; None unless the file is plainly a table of such numbers.

    Plainly: UTF-8 without a byte-order mark, no quotes, carriage returns, NUL bytes or blank lines,
    a header of distinct non-empty names among which at least one has a prefix, at least one row,
    every row as many fields as the header, and every cell read exactly (`exact_cell`).
    """
    try:
        text = path.read_bytes().decode("utf-8")  # as it is: no newline translation
    except (OSError, UnicodeDecodeError):
        return None
    if text.startswith("\ufeff") or any(c in text for c in '"\r\0'):
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        return None
    header = lines[0].split(",")
    if "" in header or len(set(header)) != len(header):
        return None
    wanted = [n for n in header if n.startswith(prefixes)]
    if not wanted:
        return None
    wanted += [extra] if extra in header else []
    rows = [line.split(",") for line in lines[1:]]
    if any(len(row) != len(header) for row in rows):
        return None
    columns = {}
    for name in wanted:
        k = header.index(name)
        cells = [row[k] for row in rows]
        if not all(map(exact_cell, cells)):
            return None
        columns[name] = np.array([float(c) for c in cells])
    return columns
