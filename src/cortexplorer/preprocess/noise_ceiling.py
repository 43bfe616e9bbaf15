"""NSD's noise ceiling (Allen et al. 2022; kendrickkay/nsddatapaper export_noiseceiling.m).

With betas z-scored per voxel within each session, the noise SD is the pooled SD across the
repeats of each image, ``sigma_N = sqrt(mean_i var(beta_i,·))`` (unbiased variance, images with
the full number of repeats only), the signal SD is ``sqrt(max(0, 1 - sigma_N²))`` and
``ncsnr = sigma_S / sigma_N``. For test data that average trials per image, the noise ceiling
(% of variance explainable) is ``100 · ncsnr² / (ncsnr² + mean_i(1/n_i))``, which for
A images × 3, B × 2 and C × 1 trials is NSD's ``(A/3 + B/2 + C/1)/(A+B+C)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def zscore_per_session(betas: np.ndarray, sessions: Sequence) -> np.ndarray:
    """Z-score each voxel's single-trial betas (trials×V) within each session (ddof 0)."""
    betas = np.asarray(betas, dtype=np.float64)
    sessions = np.asarray(sessions)
    out = np.empty_like(betas)
    for s in np.unique(sessions):
        sel = sessions == s
        mu, sd = betas[sel].mean(0), betas[sel].std(0)
        out[sel] = (betas[sel] - mu) / np.where(sd > 0, sd, np.nan)
    return out


def ncsnr(betas: np.ndarray, image_ids: Sequence, *, n_repeats: int = 3, assume_unit_variance: bool = True) -> np.ndarray:
    """Noise-ceiling SNR per voxel from single-trial betas (trials×V) and each trial's image id.

    Only images seen exactly ``n_repeats`` times enter. With ``assume_unit_variance`` (NSD's
    convention for z-scored betas) the total variance is taken as 1; otherwise it is estimated
    from the betas of those images (GLMsingle's example 9).
    """
    betas = np.asarray(betas)
    ids = np.asarray(image_ids)
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    keep = counts == n_repeats
    if not keep.any():
        raise ValueError(f"No image has exactly {n_repeats} trials; cannot estimate the noise ceiling.")
    rows = np.flatnonzero(keep[inverse])
    order = rows[np.argsort(inverse[rows], kind="stable")]
    noise_var = np.empty(betas.shape[1])
    total = np.ones(betas.shape[1])
    step = max(1, 2**26 // max(len(order), 1))  # voxel chunks: float64 copies stay ~0.5 GB on NSD-size data
    for v in range(0, betas.shape[1], step):
        chunk = betas[order, v : v + step].astype(np.float64)
        noise_var[v : v + step] = chunk.reshape(int(keep.sum()), n_repeats, -1).var(axis=1, ddof=1).mean(axis=0)
        if not assume_unit_variance:
            total[v : v + step] = chunk.var(axis=0, ddof=1)
    signal_var = np.maximum(0.0, total - noise_var)
    return np.sqrt(signal_var) / np.sqrt(noise_var)


def pooled_ncsnr(betas: np.ndarray, image_ids: Sequence) -> np.ndarray:
    """ncsnr with the noise variance pooled over every image shown at least twice (unbiased, weighted
    by degrees of freedom) and unit total variance (z-scored betas). With equal repeat counts this
    is :func:`ncsnr`."""
    betas = np.asarray(betas, dtype=np.float64)
    _, inverse, counts = np.unique(np.asarray(image_ids), return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), betas.shape[1]))
    np.add.at(sums, inverse, betas)
    means = sums / counts[:, None]
    resid = betas - means[inverse]
    repeated = counts[inverse] >= 2
    dof = int((counts[counts >= 2] - 1).sum())
    if dof == 0:
        raise ValueError("No image was shown more than once; cannot estimate the noise ceiling.")
    noise_var = (resid[repeated] ** 2).sum(0) / dof
    return np.sqrt(np.maximum(0.0, 1.0 - noise_var)) / np.sqrt(noise_var)


def noise_ceiling(ncsnr_values: np.ndarray, trials_per_image: int | Sequence[int] = 3) -> np.ndarray:
    """Noise ceiling in % of variance for test data averaging ``trials_per_image`` trials per image.

    Pass one count per test image for the mixed-repeat case.
    """
    counts = np.atleast_1d(np.asarray(trials_per_image, dtype=np.float64))
    if np.any(counts < 1):
        raise ValueError("Every test image needs at least one trial.")
    k = float(np.mean(1.0 / counts))
    s2 = np.asarray(ncsnr_values, dtype=np.float64) ** 2
    return 100.0 * s2 / (s2 + k)
