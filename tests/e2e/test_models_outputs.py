"""The oracle and the encoder stage on the smoke run (moved from test_oracle.py and test_encoder_stage.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.encoder import VoxelEncoder

from .conftest import SMOKE


def test_smoke_oracle_accuracy(smoke_run):
    m = pd.read_csv(smoke_run / SMOKE.oracle().metrics, sep="\t")
    assert float(m.loc[m["category"] == "all", "accuracy"].iloc[0]) > 0.8


@pytest.mark.slow
def test_smoke_encoder_is_consistent_and_beats_noise(smoke_run):
    """The saved torch module reproduces the scored predictions; place regions (distinct even to a barely
    trained demo CLIP) are predicted, voxels outside the planted regions are not."""
    from cortexplorer.features import read_features
    from cortexplorer.io.tables import read_tsv
    from cortexplorer.preprocess.contract import read_betas

    enc_paths = SMOKE.encoder("01", "democlip")
    metrics = read_tsv(smoke_run / enc_paths.metrics)
    regions = read_tsv(smoke_run / enc_paths.regions).set_index("region")
    betas = read_betas(smoke_run / SMOKE.preprocess("01").betas)
    feats = read_features(smoke_run / SMOKE.features("democlip").features)
    enc = VoxelEncoder.load(smoke_run / enc_paths.model)
    assert enc.identity == feats.identity and len(metrics) == betas.n_voxels
    np.testing.assert_array_equal(enc.voxel_ijk.numpy(), betas.voxel_ijk)
    split = read_tsv(smoke_run / SMOKE.stimuli().table).set_index("stim_id")["split"]
    test = np.flatnonzero(split.loc[betas.stim_id].to_numpy() == "test")
    pos = {s: i for i, s in enumerate(feats.stim_id)}
    x = feats.features[[pos[s] for s in betas.stim_id[test]]]
    pred = enc(torch.as_tensor(x)).numpy()
    r = [np.corrcoef(pred[:, v], betas.betas[test, v])[0, 1] for v in range(0, betas.n_voxels, 97)]
    np.testing.assert_allclose(r, metrics["r"].to_numpy()[::97], rtol=1e-4, atol=1e-5)
    for region in ("PPA", "OPA", "RSC"):
        assert regions.loc[region, "median_r_truth"] > 0.5, regions
    outside = metrics["region_planted"].isna()  # written as n/a, read back as missing
    assert abs(np.median(metrics.loc[outside, "r"])) < 0.1
