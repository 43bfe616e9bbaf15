"""Ridge regression with one regularisation strength per voxel, chosen by grouped K-fold CV.

All voxels share one decomposition per fold. With the centred training features
``X_tr = U diag(s) Vᵀ``, the ridge prediction of the validation rows at α is
``A diag(d_α) W`` with ``A = X_val Vᵀᵀ``, ``W = Uᵀ Y_tr`` and ``d_α = s / (s² + α)``. Its squared
error per voxel needs only small products: ``‖y‖² − 2 Σ_i d_i C_i W_i + (d∘W)ᵀ G (d∘W)`` with
``C = Aᵀ Y_val`` and ``G = AᵀA``, so each α costs r²·V instead of N_val·r·V and predictions are
never formed. The criterion is the mean over folds of each fold's mean squared error (himalaya's
``l2_neg_loss``), so the chosen α match himalaya's ``RidgeCV`` on the same folds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class RidgeFit:
    coef: np.ndarray  # D × V
    intercept: np.ndarray  # V
    alpha: np.ndarray  # V, the chosen regularisation per voxel
    alphas: np.ndarray  # K, the grid
    cv_mse: np.ndarray  # K × V, mean over folds of the validation mean squared error

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


def grouped_kfold(groups: Sequence, n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of rows in which every group (e.g. all repeats of one stimulus) stays in one fold."""
    groups = np.asarray(groups)
    unique, inverse = np.unique(groups, return_inverse=True)
    if n_folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 folds, not {n_folds}.")
    if len(unique) < n_folds:
        raise ValueError(f"{len(unique)} stimuli cannot fill {n_folds} cross-validation folds; use fewer folds "
                         "or more stimuli.")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = np.empty(len(unique), dtype=int)
    fold_of_group[order] = np.arange(len(unique)) % n_folds
    fold = fold_of_group[inverse]
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_folds)]


def _check(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"Features ({x.shape}) and responses ({y.shape}) must be 2-D with one row per stimulus.")
    if not np.isfinite(x).all():
        raise ValueError(f"The features hold {int((~np.isfinite(x)).sum())} NaN or infinite values; recompute them.")
    if not np.isfinite(y).all():
        raise ValueError(f"The responses hold {int((~np.isfinite(y)).sum())} NaN or infinite values.")
    if np.any(alphas <= 0):
        raise ValueError("Ridge alphas must be positive.")


def ridge_cv(x: np.ndarray, y: np.ndarray, alphas: Sequence[float], folds: Sequence[tuple[np.ndarray, np.ndarray]],
             *, fit_intercept: bool = True, voxel_chunk: int = 4096) -> RidgeFit:
    """Fit ``y ≈ x @ coef + intercept`` per voxel with the α of ``alphas`` that minimises the CV error."""
    x = np.asarray(x)
    y = np.asarray(y)
    alphas = np.asarray(alphas, dtype=np.float64)
    _check(x, y, alphas)
    n_vox = y.shape[1]
    mse = np.zeros((len(alphas), n_vox))
    for f, (train, test) in enumerate(folds):
        xtr, xte = x[train].astype(np.float64), x[test].astype(np.float64)
        if fit_intercept:
            mu = xtr.mean(0)
            xtr, xte = xtr - mu, xte - mu
        u, s, vt = np.linalg.svd(xtr, full_matrices=False)
        a = xte @ vt.T
        g = a.T @ a
        u32, a32 = u.astype(np.float32), a.astype(np.float32)
        d = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # K × r
        for v0 in range(0, n_vox, voxel_chunk):
            ytr, yte = y[train, v0:v0 + voxel_chunk], y[test, v0:v0 + voxel_chunk]
            if fit_intercept:
                ym = ytr.mean(0, dtype=np.float64).astype(y.dtype)
                ytr, yte = ytr - ym, yte - ym
            w = (u32.T @ ytr).astype(np.float64)  # r × v
            c = (a32.T @ yte).astype(np.float64)  # r × v
            yy = np.einsum("nv,nv->v", yte, yte, dtype=np.float64)
            for k in range(len(alphas)):
                dw = d[k][:, None] * w
                err = yy - 2 * np.einsum("rv,rv->v", c, dw) + np.einsum("rv,rv->v", dw, g @ dw)
                mse[k, v0:v0 + voxel_chunk] += err / len(test)
        log.info("ridge CV: fold %d/%d done", f + 1, len(folds))
    mse /= len(folds)
    best = np.argmin(mse, axis=0)
    # refit on all rows with each voxel's α: one decomposition, per-voxel shrinkage of UᵀY
    xf = x.astype(np.float64)
    xm = xf.mean(0) if fit_intercept else np.zeros(x.shape[1])
    u, s, vt = np.linalg.svd(xf - xm, full_matrices=False)
    coef = np.empty((x.shape[1], n_vox), dtype=np.float32)
    intercept = np.zeros(n_vox, dtype=np.float32)
    d = s[None, :] / (s[None, :] ** 2 + alphas[:, None])
    for v0 in range(0, n_vox, voxel_chunk):
        yc = y[:, v0:v0 + voxel_chunk].astype(np.float64)
        ym = yc.mean(0) if fit_intercept else np.zeros(yc.shape[1])
        w = u.T @ (yc - ym)
        cf = vt.T @ (d[best[v0:v0 + voxel_chunk]].T * w)
        coef[:, v0:v0 + voxel_chunk] = cf
        intercept[v0:v0 + voxel_chunk] = ym - xm @ cf
    return RidgeFit(coef=coef, intercept=intercept, alpha=alphas[best], alphas=alphas, cv_mse=mse)
