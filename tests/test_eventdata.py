"""`sim compare-events`: simulated event logs scored against CAMEO-coded event data."""

from __future__ import annotations

import pandas as pd
import pytest

from sim import run
from sim.analysis.eventdata import compare_events

from .conftest import REPO

CHRONOLOGY = REPO / "sim" / "data" / "kosovo_2021_events.csv"


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
