"""Stage ``decoding`` in the smoke run: wiring at tiny size (the planted-recovery numbers are the demo's and the unit
tests' in ``tests/test_decoding.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cortexplorer.decoding.parcels import read_atlas
from cortexplorer.decoding.stage import read_predictions, read_windows
from cortexplorer.io.tables import read_tsv

from .conftest import SMOKE


def test_smoke_decoding_outputs_are_consistent(smoke_run):
    run = smoke_run
    truth = run / SMOKE.simulated_subject("01").truth
    atlas = read_atlas(truth / "networks" / "atlas.nii.gz", truth / "networks.tsv")
    windows = read_windows(str(run / SMOKE.decoding_windows("01").windows))
    # one window per main-experiment trial with an image, over every parcel, with the TR-shift margin
    trials = read_tsv(truth / "trials.tsv")
    assert len(windows["windows"]) == len(trials)
    assert windows["windows"].shape[1:] == (windows["length"] + 2 * windows["tr_shift"], len(atlas.labels))
    assert windows["network"].tolist() == atlas.networks.tolist()
    stimuli = read_tsv(run / SMOKE.stimuli().table)
    test_ids = stimuli.loc[stimuli["split"] == "test", "stim_id"].astype(str)
    preds, ids = read_predictions(str(run / SMOKE.decoding_wave("01").predictions))
    assert set(ids) <= set(test_ids) and len(ids) > 0
    networks = atlas.network_names
    seeds = 2
    expected = {f"wave/{c}/{s}" for c in ("whole_brain", "visual_only") for s in range(seeds)}
    expected |= {f"wave/without_{n}/{s}" for n in networks for s in range(seeds)}
    assert set(preds) == expected
    base, base_ids = read_predictions(str(run / SMOKE.decoding_baseline("01").predictions))
    assert base_ids.tolist() == ids.tolist() and set(base) == {"baseline/betas/0"}
    ev = SMOKE.decoding_evaluate("01")
    metrics = read_tsv(run / ev.metrics)
    n = len(ids)
    chance = metrics.groupby("metric")["chance"].first()
    assert np.isclose(chance["image_top1"], 1 / n) and np.isclose(chance["image_top3"], 3 / n)
    assert np.isclose(chance["semantic"], 1 / 3)
    assert ((metrics["p"] > 0) & (metrics["p"] <= 1)).all() and metrics["p"].min() >= 1 / 100
    ablation = read_tsv(run / ev.ablation)
    assert sorted(ablation["network"]) == sorted(networks)
    planted = pd.read_csv(truth / "networks.tsv", sep="\t").groupby("network")["strength"].first()
    np.testing.assert_allclose(ablation.set_index("network")["planted_strength"], planted[ablation["network"]])
    assert (run / ev.figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    images = SMOKE.decoding_images("01")
    table = read_tsv(run / images.table)
    assert set(table["stim_id"].astype(str)) <= set(ids) and (table["n_candidates"] == len(ids)).all()
    assert ((table["rank_of_seen"] >= 0) & (table["rank_of_seen"] < len(ids))).all()
