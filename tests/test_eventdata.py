"""`sim compare-events`: simulated event logs scored against CAMEO-coded event data."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from sim import run
from sim.analysis.eventdata import compare_events

from .conftest import REPO

CHRONOLOGY = REPO / "scenarios" / "records" / "kosovo_2021_events.csv"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "run"
    run("kosovo_2021", runs=200, days=33).save(out)
    return out


def test_scores_against_the_2021_chronology(folder):
    cmp = compare_events(folder, CHRONOLOGY)
    s = cmp.scores
    assert s["observed_events"] > 60 and s["days"] == 33
    assert 0 <= s["coverage_50"] <= s["coverage_90"] <= 1
    assert 0 < s["crps"] < s["crps_zero"]  # the ensemble beats a forecast of "no change"
    assert cmp.by_actor.set_index("actor").loc["serbia", "observed"] > 10
    # day 0 of the record is the most hostile day of the onset
    assert cmp.daily.loc[0, "observed"] < -20


def test_any_event_file_with_the_columns_works(folder, tmp_path):
    data = pd.DataFrame(
        {
            "date": ["2021-09-21", "2021-09-21", "2021-10-30", "2030-01-01"],
            "actor": ["SRB", "XYZ", "KOS", "KOS"],
            "target": ["KOS", "KOS", "SRB", "SRB"],
            "cameo": ["152", "111", "057", "057"],
            "goldstein": [-7.2, -2.0, 8.0, 8.0],
        }
    )
    path = tmp_path / "mine.csv"
    data.to_csv(path, index=False)
    cmp = compare_events(folder, path)
    assert cmp.scores["observed_events"] == 2  # day 40 and 2030 are outside the 33 simulated days
    assert cmp.daily.loc[1, "observed"] == pytest.approx(-9.2)
    assert "other: XYZ" in set(cmp.by_actor["actor"])


def test_cli_compare_events_and_bad_files(cli, folder, tmp_path):
    code, out, err = cli("compare-events", folder, CHRONOLOGY, "--out", tmp_path / "o")
    assert code == 0, err
    assert "CRPS" in out and (tmp_path / "o" / "events_vs_data.png").exists()
    daily = pd.read_csv(tmp_path / "o" / "events_vs_data.csv")
    assert {"day", "observed", "q05", "q95", "crps"} <= set(daily.columns)
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n1,2\n")
    code, _, err = cli("compare-events", folder, bad)
    assert code == 2 and "expected columns" in err
    code, _, err = cli("compare-events", folder, tmp_path / "missing.csv")
    assert code == 2 and "file not found" in err


# ------------------------------------------------------------- issue 9


def test_band_coverage_is_reported_over_all_days_and_over_days_with_recorded_events(folder, tmp_path):
    data = pd.DataFrame(
        {
            "date": ["2021-09-20", "2021-09-20", "2021-09-25"],
            "actor": ["SRB", "KOS", "KOS"],
            "target": ["KOS", "SRB", "SRB"],
            "cameo": ["152", "057", "057"],
            "goldstein": [-7.2, 8.0, -40 / 4],
        }
    )
    path = tmp_path / "two_days.csv"
    data.to_csv(path, index=False)
    cmp = compare_events(folder, path)
    s, d = cmp.scores, cmp.daily
    assert s["event_days"] == 2 and list(d.loc[d["recorded_events"] > 0, "day"]) == [0, 5]
    for band, (low, high) in {"50": ("q25", "q75"), "90": ("q05", "q95")}.items():
        inside = (d["observed"] >= d[low]) & (d["observed"] <= d[high])
        assert s[f"coverage_{band}"] == pytest.approx(inside.mean())  # every day, empty ones as 0
        assert s[f"coverage_{band}_event_days"] == pytest.approx(inside[[0, 5]].mean())  # only the 2
    text = "\n".join(cmp.lines())
    assert "all 33 days (a day with no recorded event counts as a sum of 0)" in text
    assert "the 2 days with recorded events only" in text
    title = cmp.plot().axes[0].get_title(loc="left")
    assert "of all 33 days" in title and "of the 2 days with recorded events" in title


def test_the_csv_carries_both_coverages(cli, folder, tmp_path):
    code, out, err = cli("compare-events", folder, CHRONOLOGY, "--out", tmp_path / "o")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "o" / "events_vs_data.csv")
    assert {"recorded_events", "coverage_50", "coverage_50_event_days", "coverage_90_event_days"} <= set(
        table.columns
    )
    event_days = int((table["recorded_events"] > 0).sum())
    assert table["event_days"].iloc[0] == event_days < 33
    assert f"the {event_days} days with recorded events only" in out


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def _events(text):
    return lambda f: (f / "events.csv").write_text(text)


TAMPERED = {
    "no manifest": (lambda f: (f / "manifest.json").unlink(), "not a run folder"),
    "garbled manifest": (lambda f: (f / "manifest.json").write_text("{"), "manifest.json: not valid JSON"),
    "no events table": (lambda f: (f / "events.csv").unlink(), "expected events.csv or events.parquet"),
    "binary events": (lambda f: (f / "events.csv").write_bytes(b"\xff\x00\xfe" * 30), "events.csv: "),
    "empty events file": (_events(""), "events.csv: empty file"),
    "no event rows": (_events("run,day,actor,target,move,cameo,goldstein\n"), "the event log is empty"),
    "missing column": (_events("run,day,actor\n0,1,serbia\n"), "missing cameo, goldstein"),
    "day beyond the horizon": (
        _events("run,day,actor,cameo,goldstein\n0,999,serbia,152,-7.2\n"),
        "events.csv: day: expected days 0 to 32 (scenario.yaml), found 999",
    ),
    "negative day": (_events("run,day,actor,cameo,goldstein\n0,-1,serbia,152,-7.2\n"), "found -1"),
    "run not in the folder": (
        _events("run,day,actor,cameo,goldstein\n4000,1,serbia,152,-7.2\n"),
        "events.csv: run: expected runs 0 to 199 (manifest.json), found 4000",
    ),
    "goldstein not a number": (
        _events("run,day,actor,cameo,goldstein\n0,1,serbia,152,bad\n"),
        "events.csv: goldstein: expected finite numbers, found 'bad' in row 1",
    ),
    "scenario horizon differs": (
        lambda f: (f / "scenario.yaml").write_text(
            (f / "scenario.yaml").read_text().replace("\ndays: 33\n", "\ndays: 13\n")
        ),
        "manifest.json: days: expected the 13 days of scenario.yaml, found 33",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_compare_events_on_a_tampered_folder_is_one_line_naming_the_file(case, cli, folder, tmp_path):
    copy = _copy(folder, tmp_path)
    tamper, expected = TAMPERED[case]
    tamper(copy)
    code, _, err = cli("compare-events", copy, CHRONOLOGY, "--out", tmp_path / "o")
    assert code == 2 and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


BAD_DATA = {
    "goldstein not a number": ("date,actor,cameo,goldstein\n2021-09-21,SRB,152,x\n", "goldstein: expected"),
    "goldstein off the scale": ("date,actor,cameo,goldstein\n2021-09-21,SRB,152,-70\n", "from -10 to 10"),
    "day not whole": ("day,actor,cameo,goldstein\n1.5,SRB,152,-7\n", "day: expected whole numbers"),
    "binary": ("\x00\x01\x02", "mine.csv: "),
    "empty": ("", "mine.csv: empty file"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_a_bad_event_file_is_one_line_naming_it(case, cli, folder, tmp_path):
    text, expected = BAD_DATA[case]
    (tmp_path / "mine.csv").write_text(text)
    code, _, err = cli("compare-events", folder, tmp_path / "mine.csv", "--out", tmp_path / "o")
    assert code == 2 and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()
    code, _, err = cli("compare-events", folder, tmp_path, "--out", tmp_path / "o")  # a folder as the file
    assert code == 2 and "expected a regular file" in err


def test_a_failed_write_leaves_nothing_behind(cli, folder, tmp_path, monkeypatch):
    import errno

    from sim.analysis import eventdata

    def full_disk(fig, path, **kwargs):
        path.write_bytes(b"\x89PNG half")  # a partial file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    old = tmp_path / "old"
    old.mkdir()
    (old / "events_vs_data.csv").write_text("the previous comparison\n")
    monkeypatch.setattr(eventdata, "save_figure", full_disk)
    code, _, err = cli("compare-events", folder, CHRONOLOGY, "--out", old)
    assert code == 2 and "No space left on device" in err and "events_vs_data.png" in err, err
    assert sorted(p.name for p in old.iterdir()) == ["events_vs_data.csv"]  # no .partial, no new files
    assert (old / "events_vs_data.csv").read_text() == "the previous comparison\n"
    code, _, err = cli("compare-events", folder, CHRONOLOGY, "--out", tmp_path / "new" / "o")
    assert code == 2 and not (tmp_path / "new" / "o").exists()
    monkeypatch.undo()  # control: the same command writes both files once the disk has room
    code, _, err = cli("compare-events", folder, CHRONOLOGY, "--out", old)
    assert code == 0, err
    assert sorted(p.name for p in old.iterdir()) == ["events_vs_data.csv", "events_vs_data.png"]
    assert (old / "events_vs_data.csv").read_text().startswith("day,observed")
