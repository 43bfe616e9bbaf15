"""The encoder stage on a planted problem, and its refusals of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.encoder import VoxelEncoder, grouped_kfold
from cortexplorer.encoder.stage import fit_encoder
from cortexplorer.features import write_features
from cortexplorer.io.tables import write_tsv
from cortexplorer.preprocess.contract import assemble, write_betas
from cortexplorer.rois.contract import RoiMask, write_roi_set

IDENT = {"name": "toy", "kind": "demo_clip", "arch": "cortexplorer-demo-clip", "pretrained": "", "weights_sha256": "0" * 64,
         "embed_dim": 8, "image_size": 8}


def _world(tmp_path, n_stim=80, n_test=20, d=8, signal_voxels=12, noise_voxels=8, seed=0):
    """Features of n_stim stimuli, 3 repeats each over 3 sessions; the first voxels respond linearly."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_stim, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.array([f"s{i:03d}" for i in range(n_stim)])
    v = signal_voxels + noise_voxels
    w = np.zeros((d, v))
    w[:, :signal_voxels] = rng.normal(size=(d, signal_voxels)) * 3
    trials = np.tile(np.arange(n_stim), 3)
    sessions = np.repeat([1, 2, 3], n_stim)
    y = x[trials] @ w + rng.normal(size=(len(trials), v))
    shape = (4, 5, 1)
    ijk = np.array([(i % 4, i // 4, 0) for i in range(v)])
    betas = assemble(y, trial_stim_id=ids[trials], trial_session=sessions, trial_run=sessions, voxel_ijk=ijk,
                     affine=np.eye(4), shape=shape)
    write_betas(tmp_path / "betas.h5", betas)
    write_features(tmp_path / "features.h5", x, ids, IDENT)
    split = np.where(np.arange(n_stim) < n_test, "test", "train")
    write_tsv(pd.DataFrame({"stim_id": ids, "category": "x", "caption": "x", "split": split}), tmp_path / "stimuli.tsv")
    signal = np.zeros(shape, bool)
    noise = np.zeros(shape, bool)
    for n, (i, j, k) in enumerate(ijk):
        (signal if n < signal_voxels else noise)[i, j, k] = True
    write_roi_set(tmp_path / "rois", [RoiMask("signal", "face", signal, "planted", "test"),
                                      RoiMask("noise", "place", noise, "planted", "test")], np.eye(4))
    return x, ids, w


def _fit(tmp_path, **kwargs):
    out = tmp_path / "enc"
    out.mkdir(exist_ok=True)
    args = dict(betas_h5=str(tmp_path / "betas.h5"), features_h5=str(tmp_path / "features.h5"),
                stimuli_tsv=str(tmp_path / "stimuli.tsv"), out_model=str(out / "encoder.pt"),
                out_metrics=str(out / "metrics.tsv"), out_regions=str(out / "regions.tsv"),
                out_maps={"r2": str(out / "r2.nii.gz"), "r2_noise_normalised": str(out / "nn.nii.gz")},
                out_qc=str(out / "qc.png"), out_provenance=str(out / "provenance.json"), backbone="toy",
                rois_dir=str(tmp_path / "rois"), n_folds=4)
    args.update(kwargs)
    return fit_encoder(**args), out


@pytest.mark.parametrize("target", ["averaged", "trials"])
def test_encoder_recovers_planted_voxels_and_ignores_noise(tmp_path, target):
    x, _, w = _world(tmp_path)
    regions, out = _fit(tmp_path, target=target, backbone_spec={"kind": "demo_clip"})
    row = regions.set_index("region")
    assert row.loc["signal", "n_voxels"] == 12 and row.loc["noise", "n_voxels"] == 8
    assert row.loc["signal", "median_r2_noise_normalised"] > 0.8
    assert row.loc["signal", "median_r"] > 0.9
    assert row.loc["noise", "median_r2"] < 0.05
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    # noise voxels need the strongest shrinkage, signal voxels much less
    assert metrics["alpha"][12:].min() > metrics["alpha"][:12].median()
    enc = VoxelEncoder.load(out / "encoder.pt")
    assert enc.identity == IDENT and enc.weight.shape == (8, 20)
    test = np.arange(20)  # the test stimuli: the saved module predicts what the metrics scored
    pred = enc(torch.as_tensor(x[test], dtype=torch.float32)).numpy()
    r = [np.corrcoef(pred[:, v], x[test] @ w[:, v])[0, 1] for v in range(12)]
    assert min(r) > 0.9


def test_encoder_refuses_bad_input(tmp_path):
    x, ids, _ = _world(tmp_path)
    write_features(tmp_path / "other.h5", x[:70], ids[:70], IDENT)
    with pytest.raises(ValueError, match=r"10 of the 80 stimuli .* have no features .*different stimulus sets"):
        _fit(tmp_path, features_h5=str(tmp_path / "other.h5"))
    with pytest.raises(ValueError, match=r"made by .*features.backbones.toy is now"):
        _fit(tmp_path, backbone_spec={"kind": "open_clip", "arch": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"})
    with pytest.raises(ValueError, match=r"No stimulus .* has split 'heldout'"):
        _fit(tmp_path, test_split="heldout")
    with pytest.raises(ValueError, match="60 stimuli cannot fill 61 cross-validation folds"):
        _fit(tmp_path, n_folds=61)
    import h5py

    with h5py.File(tmp_path / "features.h5", "r+") as f:
        f["features"][3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite features"):
        _fit(tmp_path)
    enc = VoxelEncoder(torch.zeros(8, 3), torch.zeros(3), torch.zeros(3, 3, dtype=torch.long), torch.ones(3))
    with pytest.raises(ValueError, match="region has no voxels"):
        enc.select(np.array([], dtype=int))
    assert grouped_kfold(ids, 2)  # sanity: the ids themselves are fine


@pytest.mark.slow
def test_smoke_encoder_is_consistent_and_beats_noise(smoke_results):
    """The saved torch module reproduces the scored predictions; place regions (distinct even to a barely
    trained demo CLIP) are predicted, voxels outside the planted regions are not."""
    from cortexplorer.features import read_features
    from cortexplorer.io.tables import read_tsv
    from cortexplorer.preprocess.contract import read_betas

    enc_dir = smoke_results / "encoder" / "sub-01" / "democlip"
    metrics = read_tsv(enc_dir / "metrics.tsv")
    regions = read_tsv(enc_dir / "regions.tsv").set_index("region")
    betas = read_betas(smoke_results / "preprocess" / "sub-01" / "betas.h5")
    feats = read_features(smoke_results / "features" / "democlip.h5")
    enc = VoxelEncoder.load(enc_dir / "encoder.pt")
    assert enc.identity == feats.identity and len(metrics) == betas.n_voxels
    np.testing.assert_array_equal(enc.voxel_ijk.numpy(), betas.voxel_ijk)
    split = read_tsv(smoke_results / "stimuli" / "stimuli.tsv").set_index("stim_id")["split"]
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
