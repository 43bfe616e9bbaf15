"""The encoder stage on a planted problem, and its refusals of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexplorer.encoder import VoxelEncoder, grouped_kfold
from cortexplorer.encoder.stage import EncoderSettings, fit_encoder
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


def _fit(tmp_path, features_h5=None, **settings):
    out = tmp_path / "enc"
    out.mkdir(exist_ok=True)
    inputs = {"betas": str(tmp_path / "betas.h5"), "features": features_h5 or str(tmp_path / "features.h5"),
              "stimuli": str(tmp_path / "stimuli.tsv"), "rois": str(tmp_path / "rois")}
    outputs = {"model": str(out / "encoder.pt"), "metrics": str(out / "metrics.tsv"),
               "regions": str(out / "regions.tsv"), "r2": str(out / "r2.nii.gz"), "r2nn": str(out / "nn.nii.gz"),
               "qc": str(out / "qc.png"), "provenance": str(out / "provenance.json")}
    args = dict(backbone="toy", backbone_spec=None, target="averaged", test_split="test", n_folds=4,
                alphas={"log10_min": -2, "log10_max": 4, "n": 13}, seed=0)
    args.update(settings)
    return fit_encoder(inputs=inputs, outputs=outputs, settings=EncoderSettings(**args)), out


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
    groups = np.repeat(ids, 3)  # the ids themselves are fine: three trials of each stimulus
    folds = grouped_kfold(groups, 2)
    assert len(folds) == 2
    tests = [test for _, test in folds]
    assert set(tests[0].tolist()).isdisjoint(tests[1].tolist())  # disjoint
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(groups)))  # covering
    for train, test in folds:
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(groups)))
        assert set(groups[train]).isdisjoint(groups[test])  # grouped: every trial of an id on one side

