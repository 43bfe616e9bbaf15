"""Single-trial estimators and NSD noise-ceiling formulas against brute force, nilearn and simulation."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.glm.first_level import FirstLevelModel, compute_regressor

from cortexplorer.preprocess import lsa_betas, lss_betas, ncsnr, noise_ceiling, zscore_per_session
from cortexplorer.preprocess.noise_ceiling import pooled_ncsnr


def _run(rng, n_trials=30, n_vol=160, tr=1.5, n_vox=12):
    """A fast event-related run: canonical-HRF trial regressors, cosine drift + motion nuisance."""
    frame_times = np.arange(n_vol) * tr
    onsets = 6 + np.arange(n_trials) * 7.0 + rng.uniform(0, 1, n_trials)
    trials = np.column_stack([compute_regressor(np.array([[o], [2.0], [1.0]]), "spm", frame_times)[0][:, 0]
                              for o in onsets])
    t = np.arange(n_vol)
    nuisance = np.column_stack([np.ones(n_vol)] + [np.cos(np.pi * k * (t + 0.5) / n_vol) for k in (1, 2, 3)]
                               + [rng.normal(size=n_vol).cumsum() * 0.05 for _ in range(2)])
    beta = rng.normal(1.0, 0.5, (n_trials, n_vox))
    data = trials @ beta + nuisance @ rng.normal(0, 2, (nuisance.shape[1], n_vox)) + rng.normal(0, 0.5, (n_vol, n_vox))
    return trials, nuisance, data


def test_lss_closed_form_equals_per_trial_refits():
    rng = np.random.default_rng(0)
    trials, nuisance, data = _run(rng)
    fast = lss_betas(trials, data, nuisance)
    brute = np.empty_like(fast)
    for j in range(trials.shape[1]):
        others = np.delete(trials, j, axis=1).sum(1)
        coef, *_ = np.linalg.lstsq(np.column_stack([trials[:, j], others, nuisance]), data, rcond=None)
        brute[j] = coef[0]
    np.testing.assert_allclose(fast, brute, rtol=1e-6, atol=1e-9)
    assert np.abs(fast - brute).max() < 1e-9


def test_lss_without_nuisance_and_collinear_trial():
    rng = np.random.default_rng(1)
    trials, _, data = _run(rng, n_trials=8)
    brute = [np.linalg.lstsq(np.column_stack([trials[:, j], np.delete(trials, j, 1).sum(1)]), data, rcond=None)[0][0]
             for j in range(8)]
    np.testing.assert_allclose(lss_betas(trials, data), np.array(brute), rtol=1e-8)
    dup = np.column_stack([trials, np.zeros(len(trials))])
    with pytest.raises(ValueError, match="Trial 8 is collinear"):
        lss_betas(dup, data)


def test_lsa_equals_nilearn_first_level_model():
    """Same design, OLS, no signal scaling: nilearn's effect sizes equal our LSA betas."""
    rng = np.random.default_rng(2)
    trials, nuisance, data = _run(rng, n_vox=27)
    n_vol = len(data)
    design = pd.DataFrame(np.column_stack([trials, nuisance]),
                          columns=[f"trial{j:03d}" for j in range(trials.shape[1])]
                          + [f"nuis{k}" for k in range(nuisance.shape[1])])
    img = nib.Nifti1Image(data.T.reshape(3, 3, 3, n_vol).astype(np.float64) + 100, np.eye(4))
    mask = nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), np.eye(4))
    glm = FirstLevelModel(noise_model="ols", signal_scaling=False, mask_img=mask, minimize_memory=False)
    glm.fit(img, design_matrices=design)
    ours = lsa_betas(trials, data + 100, nuisance)
    for j in (0, 7, trials.shape[1] - 1):
        theirs = np.asarray(glm.compute_contrast(f"trial{j:03d}", output_type="effect_size").dataobj).reshape(-1)
        np.testing.assert_allclose(ours[j], theirs, rtol=1e-5, atol=1e-8)


def _beta_space(rng, sigma_s, sigma_n, n_images=1000, n_vox=300, n_sessions=4):
    ids = np.repeat(np.arange(n_images), 3)
    signal = rng.normal(0, sigma_s, (n_images, n_vox))
    betas = signal[ids] + rng.normal(0, sigma_n, (len(ids), n_vox))
    sessions = rng.integers(0, n_sessions, len(ids))
    return zscore_per_session(betas * rng.uniform(0.5, 2, n_vox) + 3.0, sessions), ids


@pytest.mark.parametrize("true_ncsnr", [0.3, 0.6, 1.0])
def test_ncsnr_recovers_the_truth_in_beta_space(true_ncsnr):
    rng = np.random.default_rng(3)
    betas, ids = _beta_space(rng, sigma_s=true_ncsnr, sigma_n=1.0)
    est = ncsnr(betas, ids)
    assert abs(est.mean() / true_ncsnr - 1) < 0.05, est.mean()


def test_pooled_ncsnr_equals_nsd_rule_and_handles_uneven_repeats():
    rng = np.random.default_rng(4)
    betas, ids = _beta_space(rng, sigma_s=0.6, sigma_n=1.0)
    np.testing.assert_allclose(pooled_ncsnr(betas, ids), ncsnr(betas, ids), rtol=1e-10)
    # images shown 2 or 4 times (none exactly 3): the pooled estimate still finds the truth
    counts = rng.choice([1, 2, 4], 1500)
    ids = np.repeat(np.arange(1500), counts)
    signal = rng.normal(0, 0.6, (1500, 200))
    raw = signal[ids] + rng.normal(0, 1.0, (len(ids), 200))
    z = zscore_per_session(raw, np.zeros(len(ids)))
    assert abs(pooled_ncsnr(z, ids).mean() / 0.6 - 1) < 0.05


def test_noise_ceiling_formulas():
    np.testing.assert_allclose(noise_ceiling(np.array([0.5, 0.7, 1.0]), 1), [20.0, 32.885906, 50.0], rtol=1e-6)
    np.testing.assert_allclose(noise_ceiling(np.array([0.5, 1.0]), 3), [42.857143, 75.0], rtol=1e-6)
    a, b, c = 50, 30, 20  # NSD's mixed-repeat formula
    nc = noise_ceiling(np.array([0.8]), [3] * a + [2] * b + [1] * c)
    assert nc[0] == pytest.approx(100 * 0.64 / (0.64 + (a / 3 + b / 2 + c / 1) / (a + b + c)))


def test_mixed_repeat_noise_ceiling_matches_monte_carlo():
    """% variance of trial-averaged test responses explained by the true signal, by simulation."""
    rng = np.random.default_rng(4)
    counts = np.array([3] * 400 + [2] * 350 + [1] * 250)
    sigma_s, sigma_n = 0.7, 1.0
    r2 = []
    for _ in range(200):
        signal = rng.normal(0, sigma_s, len(counts))
        measured = signal + rng.normal(0, sigma_n, len(counts)) / np.sqrt(counts)
        r2.append(1 - np.var(measured - signal) / np.var(measured))
    assert abs(np.mean(r2) * 100 - noise_ceiling(np.array([sigma_s / sigma_n]), counts)[0]) < 2.0


def test_zscore_per_session_and_constant_voxels():
    betas = np.column_stack([np.arange(8.0), np.ones(8)])
    z = zscore_per_session(betas, [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(z[:4, 0], (np.arange(4) - 1.5) / np.arange(4).std())
    assert np.isnan(z[:, 1]).all()  # a constant voxel has no z-score, it is not silently 0
