"""Stage ``scanpaths`` in the smoke run (wiring at tiny size; the planted-recovery numbers are the demo's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cortexplorer.config import _merge, check_config, load_config_file
from cortexplorer.io.tables import read_tsv
from cortexplorer.scanpaths import observer, stage

from .conftest import REPO, SMOKE


def _config():
    cfg = load_config_file(REPO / "config" / "config.yaml")
    smoke = load_config_file(REPO / "config" / "smoke.yaml")
    _merge(cfg, smoke)
    return check_config(cfg)


def test_smoke_scanpaths_are_consistent(smoke_run):
    run = smoke_run
    d, obs, ev = SMOKE.scanpath_displays(), SMOKE.scanpath_observe(), SMOKE.scanpath_evaluate()
    world = stage.load_world({k: run / getattr(d, k) for k in ("layouts", "trials", "displays")})
    cfg = _config()["scanpaths"]
    assert world.shelf.n_slots == cfg["shelf"]["rows"] * cfg["shelf"]["cols"]
    assert len(world.pixels) == cfg["layouts"] and len(world.trials) == cfg["layouts"] * cfg["trials_per_layout"]
    paths = stage.read_scanpaths(str(run / obs.scanpaths))
    assert set(paths) == set(world.trials.index)
    assert all(len(v) == cfg["scanpaths_per_trial"] for v in paths.values())
    policy = observer.Policy.from_config(cfg["policy"])
    # the table's ceiling NLL is the planted policy's exact likelihood of the observed scanpaths
    metrics = read_tsv(run / ev.metrics)
    splits = [s for s in stage.HELDOUT if len(world.split(s))]
    models = ["ceiling", "oat", "oat_greedy", *cfg["baselines"], *cfg["pixel_models"]]
    assert sorted(zip(metrics["split"], metrics["model"], strict=True)) == sorted((s, m) for s in splits
                                                                                   for m in models)
    for split in splits:
        nll = -np.concatenate([observer.log_likelihood(policy, world.scene(t), p) for t in world.split(split)
                               for p, _ in paths[t]]).mean()
        row = metrics[(metrics["split"] == split) & (metrics["model"] == "ceiling")].iloc[0]
        assert row["nll_per_step"] == pytest.approx(nll, rel=1e-5), split  # the table keeps 6 digits
    assert metrics["sequence_score"].between(0, 1).all() and (metrics["behaviour_delta"] >= 0).all()
    found = read_tsv(run / ev.curves)
    assert found.groupby(["split", "model"])["found"].apply(lambda f: bool((np.diff(f) >= 0).all())).all()
    training = read_tsv(run / SMOKE.scanpath_train().training)
    assert 1 <= len(training) <= cfg["oat"]["epochs"] and pd.Series(training["validation"]).notna().all()
    model = stage.load_oat(str(run / SMOKE.scanpath_train().model))
    assert model.cfg.rows == cfg["shelf"]["rows"] and model.cfg.d_cnn == cfg["oat"]["d_cnn"]
    html = (run / "reports" / "smoke" / "index.html").read_text()
    assert "Scanpaths over objects" in html
    pixel = metrics[metrics["model"].isin(cfg["pixel_models"])]
    assert (pixel["n_trials"] <= cfg["pixel_trials"]).all() and (pixel["b_refixation"] == 0).all()  # object IoR
    for job in ("scanpath_displays", "scanpath_observe", "scanpath_train", "scanpath_evaluate",
                "scanpath_pixel_search_eccnet", "scanpath_pixel_search_ivsn"):
        assert (run / SMOKE.log(job)).stat().st_size > 0, job
