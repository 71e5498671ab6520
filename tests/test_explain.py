"""`sim explain`: the terms add up to the utility the model used; the drivers add up to the tension."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import run
from sim.analysis.explain import drivers, explain
from sim.model.mechanisms import TERMS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "run"
    run("kosovo_2021", runs=8).save(out)
    return out


def test_terms_add_up_to_the_utility_and_probabilities_to_one(folder):
    ex = explain(folder, run=2, actor="serbia", day=3)
    allowed = ex.table[ex.table["allowed"]]
    np.testing.assert_allclose(allowed[list(TERMS)].sum(axis=1), allowed["utility"], rtol=0, atol=1e-12)
    assert ex.table["probability"].sum() == pytest.approx(1.0)
    assert (ex.table.loc[~ex.table["allowed"], "probability"] == 0).all()
    # the logit rule: log-odds between two allowed options = precision x utility difference
    a, b = allowed.iloc[0], allowed.iloc[1]
    assert np.log(a["probability"] / b["probability"]) == pytest.approx(1.5 * (a["utility"] - b["utility"]))


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


def test_cli_explain_prints_terms_and_writes_drivers(cli, folder):
    code, out, err = cli("explain", folder, "--run", "1")
    assert code == 0, err
    assert "reciprocity" in out and "probability" in out
    assert (folder / "drivers.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli("explain", folder, "--actor", "ruritania")
    assert code == 2 and "ruritania" in err
    code, _, err = cli("explain", folder.parent / "nowhere")
    assert code == 2 and "not a run folder" in err
