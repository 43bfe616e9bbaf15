"""The preprocess and rois stages on the smoke run, scored against the simulated subject's truth."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cortexplorer.io.tables import read_tsv
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.rois.contract import read_roi_set

from .conftest import SMOKE


@pytest.fixture(scope="module")
def betas(smoke_run):
    return read_betas(smoke_run / SMOKE.preprocess("01").betas)


def test_betas_contract(betas, smoke_run):
    trials = read_tsv(smoke_run / SMOKE.simulated_subject("01").truth / "trials.tsv", required=["stim_id", "ses"])
    assert betas.trial_betas.shape == (len(trials), betas.n_voxels) and betas.trial_betas.dtype == np.float32
    assert sorted(betas.trial_stim_id) == sorted(trials["stim_id"].astype(str))
    assert (betas.n_trials == 3).all() and len(betas.stim_id) == trials["stim_id"].nunique()
    for s in np.unique(betas.trial_session):  # z-scored within each session
        z = betas.trial_betas[betas.trial_session == s]
        assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)
    i = 7  # the per-stimulus betas are the mean of that stimulus's trials
    assert np.allclose(betas.betas[i], betas.trial_betas[betas.trial_stim_id == betas.stim_id[i]].mean(0), atol=1e-5)
    # every voxel inside the brain mask of the derivatives
    mask = next((smoke_run / SMOKE.simulation().root / "derivatives" / "fmriprep").rglob("*desc-brain_mask.nii.gz"))
    assert np.asanyarray(nib.load(mask).dataobj)[tuple(betas.voxel_ijk.T)].all()
    # NIfTI maps hold the same numbers; the noise ceiling is NSD's formula for 3-trial averages
    ncsnr_img = np.asanyarray(nib.load(smoke_run / SMOKE.preprocess("01").ncsnr).dataobj)
    assert np.allclose(ncsnr_img[tuple(betas.voxel_ijk.T)], betas.maps["ncsnr"])
    s2 = betas.maps["ncsnr"].astype(np.float64) ** 2
    assert np.allclose(betas.maps["noiseceiling"], 100 * s2 / (s2 + 1 / 3), atol=1e-3)


def test_ncsnr_is_high_where_signal_was_planted(betas, smoke_run):
    voxels = read_tsv(smoke_run / SMOKE.simulated_subject("01").truth / "voxels.tsv", required=["i", "j", "k", "region", "signal_sd"])
    where = {tuple(r): n for n, r in enumerate(voxels[["i", "j", "k"]].to_numpy())}
    idx = np.array([where[tuple(v)] for v in betas.voxel_ijk])
    signal = voxels["signal_sd"].to_numpy()[idx]
    region = voxels["region"].notna().to_numpy()[idx]
    ncsnr = betas.maps["ncsnr"]
    assert np.median(ncsnr[region]) > 2.5 * np.median(ncsnr[signal == 0])
    # the trial-level betas of region voxels track the true responses
    with h5py.File(smoke_run / SMOKE.simulated_subject("01").truth / "responses.h5") as f:
        true = f["stimulus_responses"][()]
        true_ids = f["stim_id"][()].astype(str)
    true = pd.DataFrame(true, index=true_ids).loc[betas.stim_id].to_numpy()[:, idx[region]]
    est = betas.betas[:, region]
    r = [np.corrcoef(true[:, v], est[:, v])[0, 1] for v in range(est.shape[1])]
    assert np.median(r) > 0.6


def test_full_recipe_beats_canonical_lsa(smoke_run):
    steps = read_tsv(smoke_run / SMOKE.preprocess("01").steps, required=["step", "voxels"])
    assert list(dict.fromkeys(steps["step"])) == ["assumehrf", "fithrf", "fithrf_glmdenoise", "fithrf_glmdenoise_rr"]
    planted = steps[steps["voxels"] == "planted regions"].set_index("step")
    first, last = planted.iloc[0], planted.iloc[-1]
    assert last["repeat_reliability"] > first["repeat_reliability"] + 0.05
    assert last["truth_r"] > first["truth_r"] + 0.04


def test_regions_recover_the_planted_ones(smoke_run):
    table, images = read_roi_set(smoke_run / SMOKE.rois("01").rois)
    table = table.set_index("roi")
    for roi in ("faces", "places", "bodies", "words", "food"):
        assert table.loc[roi, "dice_vs_truth"] >= 0.7, (roi, table.loc[roi, "dice_vs_truth"])
        mask = np.asanyarray(images[roi].dataobj) > 0
        assert mask.sum() == table.loc[roi, "n_voxels"]
    stacked = np.stack([np.asanyarray(images[r].dataobj) > 0 for r in ("faces", "places", "bodies", "words")])
    assert stacked.sum(0).max() == 1, "localizer regions must be mutually exclusive"
    assert table.loc["food", "source"].startswith("food vs other images")


LOCALIZER = dict(subject="01", task="floc", space="MNI152NLin2009aSym",
                 confounds={"motion": 6, "drift": "polynomial", "polynomial_degree": None, "compcor": 0, "columns": []})


def test_localizer_needs_a_domain_and_renames_trial_types(smoke_run):
    from cortexplorer.preprocess.bids_input import BidsInputError
    from cortexplorer.rois.localizer import localizer_tmaps

    bids = smoke_run / SMOKE.simulation().root
    with pytest.raises(BidsInputError, match=r"None of the localizer conditions \['object', 'thing'\].*category_map"):
        localizer_tmaps(bids, categories=["object", "thing"], category_map={"word": "thing"},
                        ignore=["face", "place", "body"], **LOCALIZER)
    # fLoc-style subcategory names mapped onto domains give the same map as the domain names
    same, _ = localizer_tmaps(bids, categories=None, **LOCALIZER)
    renamed, _ = localizer_tmaps(bids, categories=None, category_map={"word": "word"}, ignore=["object"], **LOCALIZER)
    assert sorted(same) == sorted(renamed) == ["body", "face", "place", "word"]
    a, b = np.asanyarray(same["face"].dataobj), np.asanyarray(renamed["face"].dataobj)
    assert not np.allclose(a, b)  # face vs (place, body, word) differs from face vs (place, body, word, object)
    assert np.corrcoef(a[a != 0], b[a != 0])[0, 1] > 0.8
