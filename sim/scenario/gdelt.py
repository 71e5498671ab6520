"""GDELT 2.0 event exports read as a record in the chronology format.

A GDELT 2.0 event export (`YYYYMMDDHHMMSS.export.CSV`) is tab-separated text
with no header and the codebook's 61 columns, GLOBALEVENTID to SOURCEURL.
Each row becomes one event of the chronology format (date, actor, target,
cameo, goldstein, ...): the date is SQLDATE, the CAMEO code EventCode, the
weight GoldsteinScale, and each side is named by the scenario actor whose
`code:` is the side's full actor code, its known-group code or its country
code (tried in that order, so `SRBGOV` and `SRBMIL` both count as SRB).
A side that matches no actor keeps its own code (its full code, "-" if GDELT
left it empty) and is counted under "other: ..." as in any event file.
A row repeated under the same GLOBALEVENTID (exports concatenated twice) counts once.

The rows are checked one by one; the first bad one is a one-line error
naming the file, the row and the column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import pandas as pd

from sim.errors import UserError
from sim.scenario.schema import Scenario

# The GDELT 2.0 event codebook's columns, in file order.
COLUMNS = (
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "FractionDate",
    "Actor1Code",
    "Actor1Name",
    "Actor1CountryCode",
    "Actor1KnownGroupCode",
    "Actor1EthnicCode",
    "Actor1Religion1Code",
    "Actor1Religion2Code",
    "Actor1Type1Code",
    "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code",
    "Actor2Name",
    "Actor2CountryCode",
    "Actor2KnownGroupCode",
    "Actor2EthnicCode",
    "Actor2Religion1Code",
    "Actor2Religion2Code",
    "Actor2Type1Code",
    "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent",
    "EventCode",
    "EventBaseCode",
    "EventRootCode",
    "QuadClass",
    "GoldsteinScale",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "AvgTone",
    "Actor1Geo_Type",
    "Actor1Geo_FullName",
    "Actor1Geo_CountryCode",
    "Actor1Geo_ADM1Code",
    "Actor1Geo_ADM2Code",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor1Geo_FeatureID",
    "Actor2Geo_Type",
    "Actor2Geo_FullName",
    "Actor2Geo_CountryCode",
    "Actor2Geo_ADM1Code",
    "Actor2Geo_ADM2Code",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "Actor2Geo_FeatureID",
    "ActionGeo_Type",
    "ActionGeo_FullName",
    "ActionGeo_CountryCode",
    "ActionGeo_ADM1Code",
    "ActionGeo_ADM2Code",
    "ActionGeo_Lat",
    "ActionGeo_Long",
    "ActionGeo_FeatureID",
    "DATEADDED",
    "SOURCEURL",
)
INDEX = {name: k for k, name in enumerate(COLUMNS)}
SUFFIX = ".export.csv"  # GDELT's own file names end in .export.CSV (any case is taken)
EVENT_CODE = re.compile(r"^[0-2][0-9]{1,3}$")  # CAMEO: a root 01-20 and up to two more digits


def is_gdelt(path: str | Path) -> bool:
    """Whether a file's name says it is a GDELT 2.0 event export."""
    return str(path).lower().endswith(SUFFIX)


def read_gdelt(path: Path, shown: str, scenario: Scenario) -> pd.DataFrame:
    """The export's events in the chronology's columns (date, actor, target, event, cameo, goldstein, ...)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"expected UTF-8 text (a GDELT 2.0 event export): {exc.reason}", source=shown
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", source=shown) from None
    codes = [a.code for a in scenario.actors.values() if a.code]
    rows, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _row(line, number, shown, codes)
        if row["event_id"] not in seen:
            seen.add(row["event_id"])
            rows.append(row)
    if not rows:
        raise UserError("empty file; expected GDELT 2.0 event export rows", source=shown)
    return pd.DataFrame(rows)


def _row(line: str, number: int, shown: str, codes: list[str]) -> dict[str, object]:
    fields = line.split("\t")
    if len(fields) != len(COLUMNS):
        raise UserError(
            f"expected {len(COLUMNS)} tab-separated columns (a GDELT 2.0 event export), found {len(fields)}",
            source=shown,
            field=f"row {number}",
        )

    def bad(column: str, expected: str) -> UserError:
        value = fields[INDEX[column]]
        hint = " (GDELT exports have no header row)" if value == column else ""
        return UserError(
            f"expected {expected}, found {value!r}{hint}",
            source=shown,
            field=f"row {number}, {column} (column {INDEX[column] + 1})",
        )

    event_id = fields[INDEX["GLOBALEVENTID"]]
    if not event_id.isdigit():
        raise bad("GLOBALEVENTID", "a whole number")
    try:
        date = dt.datetime.strptime(fields[INDEX["SQLDATE"]], "%Y%m%d").date()
    except ValueError:
        raise bad("SQLDATE", "a date as YYYYMMDD") from None
    cameo = fields[INDEX["EventCode"]]
    if not EVENT_CODE.match(cameo) or not 1 <= int(cameo[:2]) <= 20:
        raise bad("EventCode", "a CAMEO event code (root 01 to 20, two to four digits)")
    try:
        goldstein = float(fields[INDEX["GoldsteinScale"]])
    except ValueError:
        goldstein = math.nan
    if not -10.0 <= goldstein <= 10.0:  # NaN too
        raise bad("GoldsteinScale", "a number from -10 to 10")
    side1, side2 = (_side(fields, k, codes) for k in (1, 2))
    names = [fields[INDEX[f"Actor{k}Name"]] or "?" for k in (1, 2)]
    return {
        "event_id": event_id,
        "date": date.isoformat(),
        "actor": side1,
        "target": side2,
        "event": f"{names[0]} -> {names[1]}: CAMEO {cameo}",
        "cameo": cameo,
        "goldstein": goldstein,
        "sources": fields[INDEX["SOURCEURL"]],
        "basis": "GDELT",
        "note": f"GLOBALEVENTID {event_id}; {fields[INDEX['NumMentions']] or '?'} mentions",
    }


def _side(fields: list[str], k: int, codes: list[str]) -> str:
    """The scenario code one side matches (full code, then known group, then country), or its own code."""
    full = fields[INDEX[f"Actor{k}Code"]]
    for candidate in (full, fields[INDEX[f"Actor{k}KnownGroupCode"]], fields[INDEX[f"Actor{k}CountryCode"]]):
        if candidate and candidate in codes:
            return candidate
    return full or "-"
