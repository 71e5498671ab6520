"""`sim explain`: the terms add up to the utility the model used; the drivers add up to the tension."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sim import UserError, run
from sim.analysis.explain import NO_MOVE, drivers, explain
from sim.model.mechanisms import TERMS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "run"
    run("kosovo_2021", runs=8).save(out)
    return out


def test_terms_add_up_to_the_utility_and_probabilities_to_one(folder):
    ex = explain(folder, run=2, actor="serbia", day=3)
    allowed = ex.table[ex.table["allowed"] & (ex.table["move"] != NO_MOVE)]
    np.testing.assert_allclose(allowed[list(TERMS)].sum(axis=1), allowed["utility"], rtol=0, atol=1e-12)
    assert ex.table["probability"].sum() == pytest.approx(1.0)  # the moves and "no move today"
    options = ex.table[ex.table["move"] != NO_MOVE]
    assert (options.loc[~options["allowed"], "probability"] == 0).all()
    # the target stage's logit: between two targets of one move, log-odds = precision x utility difference
    pairs = allowed.groupby("move").filter(lambda g: len(g) >= 2)
    assert len(pairs), "a move with two allowed targets"
    two = pairs[pairs["move"] == pairs["move"].iloc[0]]
    a, b = two.iloc[0], two.iloc[1]
    assert np.log(a["probability"] / b["probability"]) == pytest.approx(1.5 * (a["utility"] - b["utility"]))


def test_the_move_count_splits_into_rest_arousal_and_answering(folder):
    """Stage 1 explained: the parts add up to the rate the model used, P(no move) matches the table; a
    the police deployed against the Kosovo Serbs on day 0 still show as answering on day 3, and not with
    answering switched off."""
    import math

    from sim.analysis.explain import explain_scenario
    from sim.runner import prepare

    ex = explain(folder, run=2, actor="serbia", day=3)
    r = ex.rate
    assert r["base"] + r["arousal"] + r["answering"] == pytest.approx(r["total"], rel=1e-12)
    no_move = ex.table.loc[ex.table["move"] == NO_MOVE, "probability"].iloc[0]
    assert no_move == pytest.approx(math.exp(-r["total"]))
    assert any("moves expected today" in line for line in ex.lines())

    def answering(response):
        scenario = prepare("kosovo_2021", overrides={"mechanisms.activity.response": response})
        return explain_scenario(scenario, run=0, actor="kosovo_serbs", day=3).rate["answering"]

    assert answering(0.5) > 0.0 == answering(0.0)


@pytest.mark.parametrize("weight", [1.0, 0.0])
def test_explain_says_when_a_posture_may_end_before_any_choice(weight):
    """After an early withdrawal the roadblocks may come down before the Kosovo Serbs choose anything
    (demands met, docs/model.md 7.5): explain shows that chance, the same the replay draws against;
    knocked out (demands_met 0) there is none to show."""
    from sim.analysis.explain import explain_scenario
    from sim.scenario.loader import load_scenario

    sc = load_scenario("kosovo_2021_early_police_withdrawal", {"mechanisms.bargaining.demands_met": weight})
    replays = (explain_scenario(sc, run=r, actor="kosovo_serbs", day=5, posterior=None) for r in range(40))
    # the first run whose roadblocks still stand on day 5, after the withdrawal on day 3
    e = next((e for e in replays if e.table.loc[e.table["move"] == "lift_blockade", "allowed"].any()), None)
    assert e is not None
    if weight:
        (end,) = e.ending
        assert end["move"] == "lift_blockade" and end["why"].startswith("demand met")
        assert 0.0 < end["chance"] < 1.0
        assert any(line.startswith("before choosing: demand met") for line in e.lines())
    else:
        assert e.ending == [] and not any("before choosing" in line for line in e.lines())


def test_explained_run_is_the_run_in_the_folder(folder):
    ex = explain(folder, run=5, actor="kosovo", day=0)
    events = pd.read_csv(folder / "events.csv", dtype={"cameo": str})
    day0 = events[(events["run"] == 5) & (events["day"] == 0) & (events["actor"] == "kosovo")]
    assert set(day0["move"]) == {"plate_rule", "deploy_police"}  # scripted on day 0
    assert ex.day == 0 and ex.actor == "kosovo"


def test_drivers_add_up_to_each_dyads_tension(folder):
    scenario, parts = drivers(folder, run=4)
    traj = pd.read_csv(folder / "trajectories.csv")
    run4 = traj[traj["run"] == 4]
    dyad = "tension_serbia-kosovo"
    k = [c for c in traj.columns if c.startswith("tension_")].index(dyad)
    np.testing.assert_allclose(parts[:, :, k].sum(axis=1), run4[dyad].to_numpy(), atol=1e-4)
    # Serbia and Kosovo drive their own dyad; nobody else does
    ids = list(scenario.actors)
    share = np.abs(parts[:, :, k]).sum(axis=0)
    assert share[ids.index("serbia")] + share[ids.index("kosovo")] > 0.95 * share.sum()


def test_drivers_figure_shows_the_dyads_that_moved(folder):
    """A panel per dyad whose tension moved, the highest first; control: a run where nothing moved falls
    back to the most salient dyads rather than an empty figure."""
    import matplotlib.pyplot as plt

    from sim.model.spec import compile_spec
    from sim.plots.figures import drivers_figure

    scenario, parts = drivers(folder, run=4)
    spec = compile_spec(scenario)
    names, pairs, salience = spec.names, spec.pairs(), spec.salience[0]
    peak = parts.sum(axis=1).max(axis=0)

    def titles(p):
        fig = drivers_figure(scenario, p, names, pairs, salience, "test")
        shown = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible() and ax.get_title(loc="left")]
        plt.close(fig)
        return shown

    moved = [k for k in np.argsort(-peak, kind="stable") if peak[k] >= 1.0][:6]
    assert titles(parts) == [f"{names[pairs[k][0]]} – {names[pairs[k][1]]}" for k in moved]
    flat = titles(np.zeros_like(parts))
    assert len(flat) == 3 and all(t in {f"{names[i]} – {names[j]}" for i, j in pairs} for t in flat)


def test_cli_explain_prints_terms_and_writes_drivers(cli, folder):
    code, out, err = cli("explain", folder, "--run", "1")
    assert code == 0, err
    assert "reciprocity" in out and "probability" in out
    assert (folder / "drivers.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli("explain", folder, "--actor", "ruritania")
    assert code == 2 and "ruritania" in err
    code, _, err = cli("explain", folder.parent / "nowhere")
    assert code == 2 and "not a run folder" in err


# ------------------------------------------------------------- tampered run folders (issue 9)


def test_explain_refuses_a_run_the_folder_does_not_hold(cli, folder):
    code, _, err = cli("explain", folder, "--run", "999999")
    assert code == 2 and "--run: expected a run from 0 to 7" in err and "999999" in err
    code, _, err = cli("explain", folder, "--run", "-1")
    assert code == 2 and "expected a run from 0 to 7" in err
    with pytest.raises(UserError, match="expected a run from 0 to 7"):
        drivers(folder, run=8)
    code, out, err = cli("explain", folder, "--run", "7")  # control: the last run is there
    assert code == 0 and "run 7" in out, err


def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    (target / "drivers.png").unlink(missing_ok=True)
    return target


def _manifest(path, **changes):
    data = json.loads((path / "manifest.json").read_text())
    data.update(changes)
    (path / "manifest.json").write_text(json.dumps(data))


TAMPERED = {
    # case: (tamper(folder), what the one-line error must name)
    "no manifest": (lambda f: (f / "manifest.json").unlink(), "not a run folder"),
    "garbled manifest": (
        lambda f: (f / "manifest.json").write_text('{"runs": 8,'),
        "manifest.json: not valid JSON",
    ),
    "binary manifest": (
        lambda f: (f / "manifest.json").write_bytes(b"\x00\xff\xfe" * 50),
        "manifest.json: not valid",
    ),
    "manifest is a list": (
        lambda f: (f / "manifest.json").write_text("[1, 2]"),
        "manifest.json: expected a JSON object",
    ),
    "runs not a number": (
        lambda f: _manifest(f, runs="many"),
        "manifest.json: runs: expected a whole number",
    ),
    "runs zero": (lambda f: _manifest(f, runs=0), "manifest.json: runs: expected a whole number"),
    "days differ": (lambda f: _manifest(f, days=5), "manifest.json: days: expected the 60 days"),
    "posterior elsewhere": (
        lambda f: _manifest(f, posterior="/etc/passwd"),
        "manifest.json: posterior: expected",
    ),
    "posterior copy missing": (
        lambda f: (_manifest(f, posterior="posterior.csv"), (f / "posterior.csv").unlink(missing_ok=True)),
        "posterior.csv: the runs drew",
    ),
    "garbled scenario": (lambda f: (f / "scenario.yaml").write_text("name: [x"), "scenario.yaml"),
    "empty scenario": (lambda f: (f / "scenario.yaml").write_text(""), "scenario.yaml"),
    "no outcomes": (lambda f: (f / "outcomes.csv").unlink(), "expected outcomes.csv or outcomes.parquet"),
    "empty outcomes": (lambda f: (f / "outcomes.csv").write_text(""), "outcomes.csv: empty file"),
    "binary outcomes": (lambda f: (f / "outcomes.csv").write_bytes(b"\xff\xfe\x00" * 99), "outcomes.csv: "),
    "outcomes without peak_day": (
        lambda f: (f / "outcomes.csv").write_text("run,outcome\n0,resolved\n"),
        "outcomes.csv: expected columns run, peak_day; missing peak_day",
    ),
    "peak day not a number": (
        lambda f: (f / "outcomes.csv").write_text("run,peak_day\n0,soon\n"),
        "outcomes.csv: peak_day: expected whole numbers, found 'soon' in row 1",
    ),
    "peak day beyond the horizon": (
        lambda f: (f / "outcomes.csv").write_text("run,peak_day\n0,999\n"),
        "--day: expected a day from 0 to 59",
    ),
    "run missing from outcomes": (
        lambda f: (f / "outcomes.csv").write_text("run,peak_day\n1,3\n"),
        "outcomes.csv: run: no row for run 0",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_explain_on_a_tampered_folder_is_one_line_naming_the_file(case, cli, folder, tmp_path):
    copy = _copy(folder, tmp_path)
    tamper, expected = TAMPERED[case]
    tamper(copy)
    before = sorted(p.name for p in copy.iterdir())
    code, _, err = cli("explain", copy)
    assert code == 2, (code, err)
    assert expected in err and err.startswith("sim: error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in copy.iterdir()) == before  # nothing written, no .partial left


def test_an_untouched_copy_explains(cli, folder, tmp_path):
    # Control for the tampered cases: the same copy, untouched, explains and gets its drivers.png.
    copy = _copy(folder, tmp_path)
    code, out, err = cli("explain", copy)
    assert code == 0 and "reciprocity" in out, err
    assert (copy / "drivers.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(copy.glob("*.partial")) and not list(copy.glob(".*partial"))


@pytest.fixture(scope="module")
def posterior_folder(tmp_path_factory):
    """A run whose replicates drew their parameters from a (hand-made) posterior."""
    base = tmp_path_factory.mktemp("post")
    pd.DataFrame(
        {
            "mechanisms.rationality": [0.8, 1.2, 2.0],
            "mechanisms.mediation.weight": [1.0, 2.0, 3.0],
            "weight": [0.2, 0.3, 0.5],
        }
    ).to_csv(base / "posterior.csv", index=False)
    out = base / "run"
    run("kosovo_2021", runs=4, days=20, posterior=base / "posterior.csv").save(out)
    return base, out


BAD_POSTERIORS = {
    "empty": (b"", "empty file"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 20, "cannot read as CSV"),
    "no parameter columns": (b"a,b\n1,2\n", "expected columns named mechanisms."),
    "NaN": (b"mechanisms.rationality,weight\nnan,1\n", "mechanisms.rationality: expected finite numbers"),
    "text": (b"mechanisms.rationality,weight\nhigh,1\n", "found 'high' in row 1"),
    "out of bounds": (b"mechanisms.rationality,weight\n-100,1\n", "mechanisms.rationality: expected finite"),
    "negative weight": (
        b"mechanisms.rationality,weight\n1,-1\n1,2\n",
        "weight: expected weights of 0 or more",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_POSTERIORS))
def test_explain_of_a_run_with_a_bad_posterior_copy_names_it(case, cli, posterior_folder, tmp_path):
    _, folder = posterior_folder
    copy = _copy(folder, tmp_path)
    content, expected = BAD_POSTERIORS[case]
    (copy / "posterior.csv").write_bytes(content)
    code, _, err = cli("explain", copy, "--run", "1", "--day", "3")
    assert code == 2 and f"{copy / 'posterior.csv'}: " in err and expected in err, err
    assert err.count("\n") == 1


def test_explain_reads_only_the_posterior_copy_inside_the_folder(cli, posterior_folder, tmp_path):
    base, folder = posterior_folder
    code, _, err = cli("explain", folder, "--run", "1", "--day", "3")  # control: the folder's own copy
    assert code == 0, err
    for elsewhere in (str(base / "posterior.csv"), "../posterior.csv", "/etc/passwd"):
        copy = _copy(folder, tmp_path / elsewhere.replace("/", "_"))
        _manifest(copy, posterior=elsewhere)
        code, _, err = cli("explain", copy, "--run", "1", "--day", "3")
        assert code == 2 and "posterior: expected posterior.csv (the copy kept in the run folder)" in err


def test_a_folder_of_one_replicate_explains_that_replicate(cli, tmp_path):
    run("kosovo_2021", replicate=17, days=20).save(tmp_path / "r17")
    code, out, err = cli("explain", tmp_path / "r17")  # default: the folder's first (and only) run
    assert code == 0 and " of run 17 in kosovo_2021" in out, err
    code, _, err = cli("explain", tmp_path / "r17", "--run", "0")
    assert code == 2 and "expected a run from 17 to 17 (the folder holds 1 run), found 0" in err
