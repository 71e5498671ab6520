"""Event data in and out (issue 11, item 7): a run's event log read back, and GDELT 2.0 exports read in."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from sim import load_scenario, run
from sim.analysis.eventdata import compare_events
from sim.errors import UserError
from sim.scenario import gdelt
from sim.scenario.record import read_event_data, targets

from .conftest import REPO

DATA = REPO / "tests" / "data"
EXPORT = DATA / "kosovo_2021-09.export.CSV"  # nine rows in GDELT 2.0's export format
MALFORMED = DATA / "malformed.export.CSV"  # its first six rows, row 4's GoldsteinScale 'high'
RUNS = 4
LOUD = {"roles.patron.activity": 8.0, "roles.kin_state.activity": 8.0, "roles.guarantor.activity": 8.0}


@pytest.fixture(scope="module")
def result_and_folder(tmp_path_factory):
    # the third parties made louder, so that every actor acts in each run and the test can tell them apart
    result = run("kosovo_2021", runs=RUNS, days=33, overrides=LOUD)
    folder = tmp_path_factory.mktemp("evio") / "run"
    result.save(folder)
    return result, folder


def _own_counts(result, r: int) -> pd.Series:
    ev = result.events
    return ev[(ev["run"] == r) & (ev["cameo"] != "")].groupby("actor").size()


def _observed(cmp) -> pd.Series:
    table = cmp.by_actor.set_index("actor")["observed"]
    return table[table > 0].astype(int)


# ------------------------------------------------------------- 7a: a run's own event log read back


def test_the_event_log_carries_the_actors_codes_after_the_old_columns(result_and_folder):
    result, folder = result_and_folder
    header = (folder / "events.csv").read_text().splitlines()[0].split(",")
    assert header == [
        *("run", "day", "date", "actor", "target", "move", "cameo", "goldstein", "kind"),
        *("actor_code", "target_code"),
    ]
    ev = result.events
    codes = {a: s.code for a, s in result.scenario.actors.items()}
    assert (ev["actor_code"] == ev["actor"].map(codes)).all()
    assert (ev["target_code"] == ev["target"].map(codes)).all()


@pytest.mark.parametrize("r", [0, RUNS - 1])
def test_compare_events_attributes_a_runs_own_events_to_its_actors(result_and_folder, r):
    result, folder = result_and_folder
    own = _own_counts(result, r)
    assert len(own) == len(result.scenario.actors)  # every actor acted: the test can tell them apart
    cmp = compare_events(folder, folder / "events.csv", data_run=r)
    assert _observed(cmp).sort_index().to_dict() == own.sort_index().to_dict()
    assert cmp.scores["observed_events"] == own.sum()
    # the simulated side is the mean over the folder's runs: the same counts summed over runs
    all_runs = result.events.groupby("actor").size() / RUNS
    simulated = cmp.by_actor.set_index("actor")["simulated_per_run"]
    assert simulated.loc[all_runs.index].to_dict() == pytest.approx(all_runs.to_dict())


def test_control_without_the_code_columns_every_actor_is_other(result_and_folder, tmp_path):
    """The old log (no code columns) puts each actor under 'other: <id>', as before."""
    result, folder = result_and_folder
    old = pd.read_csv(folder / "events.csv", dtype=str, keep_default_na=False)
    old = old.drop(columns=["actor_code", "target_code"])
    path = tmp_path / "old_events.csv"
    old.to_csv(path, index=False)
    cmp = compare_events(folder, path, data_run=0)
    observed = _observed(cmp)
    assert set(observed.index) == {f"other: {a}" for a in _own_counts(result, 0).index}
    assert observed.sum() == _own_counts(result, 0).sum()


def test_a_parquet_event_log_reads_back_the_same(result_and_folder, tmp_path):
    result, _ = result_and_folder
    folder = tmp_path / "pq"
    result.save(folder, data="parquet")
    assert (folder / "events.parquet").exists() and not (folder / "events.csv").exists()
    cmp = compare_events(folder, folder / "events.parquet", data_run=1)
    assert _observed(cmp).sort_index().to_dict() == _own_counts(result, 1).sort_index().to_dict()


def test_actors_without_a_code_are_found_by_id_and_odd_codes_survive_the_csv(tmp_path):
    # russia without a code; serbia's code holds a comma and a quote, which forces quoted fields
    result = run(
        "kosovo_2021",
        runs=1,
        days=33,
        overrides={**LOUD, "actors.russia.code": None, "actors.serbia.code": 'S,"RB'},
    )
    folder = tmp_path / "run"
    result.save(folder)
    log = pd.read_csv(folder / "events.csv", dtype=str, keep_default_na=False)
    assert set(log.loc[log["actor"] == "serbia", "actor_code"]) == {'S,"RB'}
    assert set(log.loc[log["actor"] == "russia", "actor_code"]) == {""}
    cmp = compare_events(folder, folder / "events.csv")  # one run: no --data-run needed
    own = _own_counts(result, 0)
    assert {"serbia", "russia"} <= set(own.index)
    assert _observed(cmp).sort_index().to_dict() == own.sort_index().to_dict()


def test_plain_codes_write_unquoted_fields(result_and_folder):
    _, folder = result_and_folder
    assert '"' not in (folder / "events.csv").read_text()


def test_cli_an_event_log_of_several_runs_needs_a_run(cli, result_and_folder, tmp_path):
    result, folder = result_and_folder
    log = folder / "events.csv"
    code, _, err = cli("compare-events", folder, log, "--out", tmp_path / "a")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"events.csv: holds the events of {RUNS} runs (0 to {RUNS - 1})" in err and "--data-run" in err
    assert not (tmp_path / "a").exists()
    code, _, err = cli("compare-events", folder, log, "--data-run", 99, "--out", tmp_path / "b")
    assert code == 2 and f"--data-run: expected a run of the log (0 to {RUNS - 1}), found 99" in err
    code, out, err = cli("compare-events", folder, log, "--data-run", 2, "--out", tmp_path / "c")
    assert code == 0, err
    assert f"against {_own_counts(result, 2).sum()} observed events" in out
    code, _, err = cli(
        "compare-events", folder, REPO / "scenarios/records/kosovo_2021_events.csv", "--data-run", 1
    )
    assert code == 2 and "has no run column" in err


# ------------------------------------------------------------- 7b: GDELT 2.0 event exports


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("kosovo_2021")


def test_the_codebook_has_61_columns_from_globaleventid_to_sourceurl():
    cols = gdelt.COLUMNS
    assert len(cols) == len(set(cols)) == 61
    assert (cols[0], cols[1], cols[5], cols[7], cols[15], cols[26], cols[30], cols[-1]) == (
        *("GLOBALEVENTID", "SQLDATE", "Actor1Code", "Actor1CountryCode", "Actor2Code"),
        *("EventCode", "GoldsteinScale", "SOURCEURL"),
    )
    assert all(len(line.split("\t")) == 61 for line in EXPORT.read_text().splitlines())


def test_a_gdelt_export_reads_as_a_record_on_the_scenarios_days(scenario):
    data = read_event_data(EXPORT, scenario).sort_values(["sim_day", "note"])
    # 1001 is in the file twice and counts once; 1008 (1 Jan 2021) is before the first day
    assert list(data["note"].str.split(";").str[0]) == [f"GLOBALEVENTID {k}" for k in range(1001, 1008)]
    assert list(data["sim_day"]) == [0, 0, 1, 5, 6, 6, 8]
    assert list(data["actor_id"]) == [
        *("serbia", "kosovo", "other: USA", "other: -", "albania", "other: IGONAT", "russia")
    ]
    assert list(data["target"]) == ["KOS", "SRB", "SRB", "KOS", "SRB", "SRB", "KOS"]  # by country code
    assert list(data["cameo"]) == ["111", "172", "042", "1712", "106", "0256", "112"]  # leading zeros kept
    assert list(data["root"]) == ["11", "17", "04", "17", "10", "02", "11"]
    assert list(data["goldstein"]) == [-2.0, -5.0, 1.9, -9.2, -5.0, -0.3, -2.0]
    assert list(data["date"])[:2] == ["2021-09-20", "2021-09-20"]


def test_a_side_matches_by_full_code_then_known_group_then_country(scenario):
    # with NATO's code set to GDELT's known-group code, the IGONAT row is NATO's; without it, "other"
    nat = load_scenario("kosovo_2021", {"actors.nato.code": "NAT"})
    data = read_event_data(EXPORT, nat)
    assert set(data.loc[data["actor"] == "NAT", "note"].str[:18]) == {"GLOBALEVENTID 1006"}
    assert (data["actor_id"] == "nato").sum() == 1
    assert (read_event_data(EXPORT, scenario)["actor_id"] == "nato").sum() == 0
    # a full code that is itself a scenario code wins over its country: SRBGOV as its own actor
    gov = load_scenario("kosovo_2021", {"actors.eu.code": "SRBGOV"})
    data = read_event_data(EXPORT, gov)
    assert set(data.loc[data["note"].str.startswith("GLOBALEVENTID 1001"), "actor_id"]) == {"eu"}


def test_the_records_targets_come_from_a_gdelt_export_as_from_a_chronology(scenario, tmp_path):
    """What calibration reads: the same events as a chronology CSV give the same targets."""
    data = read_event_data(EXPORT, scenario)
    as_csv = tmp_path / "same.csv"
    data[["date", "actor", "target", "cameo", "goldstein"]].to_csv(as_csv, index=False)
    from_gdelt = targets(scenario, data)
    from_csv = targets(scenario, read_event_data(as_csv, scenario))
    assert from_gdelt == from_csv
    assert from_gdelt.actor_share["serbia"] > 0 and from_gdelt.root_share["17"] > 0


def test_cli_compare_events_reads_a_gdelt_export_by_name_or_by_option(cli, result_and_folder, tmp_path):
    _, folder = result_and_folder
    code, out, err = cli("compare-events", folder, EXPORT, "--out", tmp_path / "a")
    assert code == 0, err
    assert "against 7 observed events" in out and "other: USA" in out
    renamed = tmp_path / "export.tsv"
    shutil.copyfile(EXPORT, renamed)
    code, _, err = cli("compare-events", folder, renamed, "--out", tmp_path / "b")
    assert code == 2 and "missing actor, cameo, goldstein" in err and "--data-format gdelt" in err
    code, out, err = cli("compare-events", folder, renamed, "--data-format", "gdelt", "--out", tmp_path / "c")
    assert code == 0 and "against 7 observed events" in out, err
    a, c = (pd.read_csv(tmp_path / x / "events_vs_data.csv") for x in "ac")
    pd.testing.assert_frame_equal(a, c)


def _variant(tmp_path, row: int, column: str, value: str) -> object:
    lines = EXPORT.read_text().splitlines()
    fields = lines[row - 1].split("\t")
    fields[gdelt.INDEX[column]] = value
    lines[row - 1] = "\t".join(fields)
    path = tmp_path / "variant.export.CSV"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_a_malformed_row_is_one_line_naming_the_file_row_and_column(cli, result_and_folder):
    _, folder = result_and_folder
    code, out, err = cli("compare-events", folder, MALFORMED)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert err.strip() == (
        f"sim: error: {MALFORMED}: row 4, GoldsteinScale (column 31): "
        "expected a number from -10 to 10, found 'high'"
    )


BAD = {
    "date": (2, "SQLDATE", "2021-09-20", "row 2, SQLDATE (column 2): expected a date as YYYYMMDD"),
    "event code": (3, "EventCode", "999", "row 3, EventCode (column 27): expected a CAMEO event code"),
    "root 21": (3, "EventCode", "211", "row 3, EventCode (column 27)"),
    "goldstein out of range": (5, "GoldsteinScale", "11", "row 5, GoldsteinScale (column 31)"),
    "goldstein empty": (5, "GoldsteinScale", "", "found ''"),
    "goldstein nan": (5, "GoldsteinScale", "nan", "found 'nan'"),
    "event id": (1, "GLOBALEVENTID", "x1", "row 1, GLOBALEVENTID (column 1): expected a whole number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_field_is_named(case, scenario, tmp_path):
    row, column, value, message = BAD[case]
    path = _variant(tmp_path, row, column, value)
    with pytest.raises(UserError) as info:
        read_event_data(path, scenario)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_rows_of_the_wrong_width_a_header_row_and_an_empty_file(scenario, tmp_path):
    lines = EXPORT.read_text().splitlines()
    short = tmp_path / "short.export.CSV"
    short.write_text("\n".join([lines[0], lines[1].rsplit("\t", 1)[0], *lines[2:]]) + "\n")
    with pytest.raises(UserError, match=r"short\.export\.CSV: row 2: expected 61 tab-separated .* found 60"):
        read_event_data(short, scenario)
    header = tmp_path / "header.export.CSV"
    header.write_text("\t".join(gdelt.COLUMNS) + "\n" + EXPORT.read_text())
    with pytest.raises(UserError, match=r"row 1, GLOBALEVENTID .*\(GDELT exports have no header row\)"):
        read_event_data(header, scenario)
    empty = tmp_path / "empty.export.CSV"
    empty.write_text("\n")
    with pytest.raises(UserError, match=r"empty\.export\.CSV: empty file; expected GDELT 2\.0 event"):
        read_event_data(empty, scenario)
