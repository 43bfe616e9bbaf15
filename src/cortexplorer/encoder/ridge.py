"""Ridge regression with one regularisation strength per voxel, chosen by grouped K-fold or leave-one-out CV.

All voxels share one decomposition per fold. With the centred training features
``X_tr = U diag(s) Vᵀ``, the ridge prediction of the validation rows at α is
``A diag(d_α) W`` with ``A = X_val Vᵀᵀ``, ``W = Uᵀ Y_tr`` and ``d_α = s / (s² + α)``. Its squared
error per voxel needs only small products: ``‖y‖² − 2 Σ_i d_i C_i W_i + (d∘W)ᵀ G (d∘W)`` with
``C = Aᵀ Y_val`` and ``G = AᵀA``, so each α costs r²·V instead of N_val·r·V and predictions are
never formed. The criterion is the mean over folds of each fold's mean squared error (himalaya's
``l2_neg_loss``), so the chosen α match himalaya's ``RidgeCV`` on the same folds.

``folds="loo"`` is exact leave-one-out instead, the criterion of scikit-learn's
``RidgeCV(alpha_per_target=True)``: with the centred features ``X = U diag(s) Vᵀ`` (one SVD, the one the
refit uses) the hat matrix is ``H_α = 11ᵀ/n + U diag(s²/(s²+α)) Uᵀ`` (the ``11ᵀ/n`` is the unpenalised
intercept), and the leave-one-out residual of row i is ``(y_i − ŷ_i) / (1 − h_ii)``. The criterion is the
mean over rows of its square. The leverages ``h_ii(α)`` are an n × K table; the residuals need one
``N·r·V`` product per α (float32 unless the responses are float64), done in voxel chunks laid out voxel-major
so that the sum over rows is numpy's pairwise summation (relative error ~1e-7 against float64).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class RidgeFit:
    coef: np.ndarray  # D × V
    intercept: np.ndarray  # V
    alpha: np.ndarray  # V, the chosen regularisation per voxel
    alphas: np.ndarray  # K, the grid
    cv_mse: np.ndarray  # K × V, mean over folds of the validation MSE (or the mean squared LOO residual)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


def grouped_kfold(groups: Sequence, n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of rows in which every group (e.g. all repeats of one stimulus) stays in one fold."""
    groups = np.asarray(groups)
    unique, inverse = np.unique(groups, return_inverse=True)
    if n_folds < 2:
        raise ValueError(f"Cross-validation needs at least 2 folds, not {n_folds}.")
    if len(unique) < n_folds:
        raise ValueError(
            f"{len(unique)} stimuli cannot fill {n_folds} cross-validation folds; use fewer folds or more stimuli."
        )
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


def _kfold_mse(
    x: np.ndarray,
    y: np.ndarray,
    alphas: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    fit_intercept: bool,
    voxel_chunk: int,
) -> np.ndarray:
    """K × V mean over folds of the validation mean squared error (one SVD per fold, small Gram products)."""
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
            ytr, yte = y[train, v0 : v0 + voxel_chunk], y[test, v0 : v0 + voxel_chunk]
            if fit_intercept:
                ym = ytr.mean(0, dtype=np.float64).astype(y.dtype)
                ytr, yte = ytr - ym, yte - ym
            w = (u32.T @ ytr).astype(np.float64)  # r × v
            c = (a32.T @ yte).astype(np.float64)  # r × v
            yy = np.einsum("nv,nv->v", yte, yte, dtype=np.float64)
            for k in range(len(alphas)):
                dw = d[k][:, None] * w
                err = yy - 2 * np.einsum("rv,rv->v", c, dw) + np.einsum("rv,rv->v", dw, g @ dw)
                mse[k, v0 : v0 + voxel_chunk] += err / len(test)
        log.info("ridge CV: fold %d/%d done", f + 1, len(folds))
    return mse / len(folds)


def _loo_mse(
    u: np.ndarray, s: np.ndarray, y: np.ndarray, alphas: np.ndarray, fit_intercept: bool, voxel_chunk: int
) -> np.ndarray:
    """K × V mean squared leave-one-out residual, from the SVD ``u, s`` of the (centred) features."""
    n, n_vox = y.shape
    shrink = s**2 / (s**2 + alphas[:, None])  # K × r, the hat matrix's eigenvalues
    lev = (u**2) @ shrink.T + (1.0 / n if fit_intercept else 0.0)  # n × K leverages h_ii(α)
    if np.any(lev >= 1):
        raise ValueError("A stimulus has leverage 1, so its leave-one-out residual is undefined; use more stimuli.")
    work = np.float64 if y.dtype == np.float64 else np.float32
    scale = np.ascontiguousarray((1 / (1 - lev)).T, dtype=work)  # K × n
    shrink_w = shrink.astype(work)
    ut = np.ascontiguousarray(u.T, dtype=work)  # r × n
    mse = np.empty((len(alphas), n_vox))
    for v0 in range(0, n_vox, voxel_chunk):
        yt = np.ascontiguousarray(y[:, v0 : v0 + voxel_chunk].T, dtype=work)  # v × n, voxel-major
        if fit_intercept:
            yt -= yt.mean(1, dtype=np.float64)[:, None].astype(work)
        wt = yt @ ut.T  # v × r, (Uᵀ Y)ᵀ
        e = np.empty_like(yt)
        for k in range(len(alphas)):
            np.matmul(wt * shrink_w[k], ut, out=e)  # fitted values (centred)
            np.subtract(yt, e, out=e)
            e *= scale[k]
            np.square(e, out=e)
            mse[k, v0 : v0 + voxel_chunk] = e.sum(1) / n  # pairwise summation along the contiguous axis
        log.info("ridge LOO: voxels %d-%d of %d done", v0, min(v0 + voxel_chunk, n_vox), n_vox)
    return mse


def ridge_cv(
    x: np.ndarray,
    y: np.ndarray,
    alphas: Sequence[float],
    folds: Sequence[tuple[np.ndarray, np.ndarray]] | Literal["loo"],
    *,
    fit_intercept: bool = True,
    voxel_chunk: int = 4096,
) -> RidgeFit:
    """Fit ``y ≈ x @ coef + intercept`` per voxel with the α of ``alphas`` that minimises the CV error.

    ``folds`` is a list of (train rows, validation rows), e.g. from :func:`grouped_kfold`, or ``"loo"`` for exact
    efficient leave-one-out (scikit-learn ``RidgeCV(alpha_per_target=True)``'s criterion; repeats of a stimulus
    are not kept together, so use it on averaged responses).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    alphas = np.asarray(alphas, dtype=np.float64)
    _check(x, y, alphas)
    loo = isinstance(folds, str)
    if loo and folds != "loo":
        raise ValueError(f"folds must be a list of (train, test) index pairs or 'loo', not {folds!r}.")
    if loo and len(x) < 3:
        raise ValueError(f"Leave-one-out needs at least 3 stimuli, not {len(x)}.")
    n_vox = y.shape[1]
    kfold_mse = None if loo else _kfold_mse(x, y, alphas, folds, fit_intercept, voxel_chunk)
    # one decomposition of all rows: the leave-one-out criterion and the refit share it
    xf = x.astype(np.float64)
    xm = xf.mean(0) if fit_intercept else np.zeros(x.shape[1])
    u, s, vt = np.linalg.svd(xf - xm, full_matrices=False)
    mse = _loo_mse(u, s, y, alphas, fit_intercept, voxel_chunk) if kfold_mse is None else kfold_mse
    best = np.argmin(mse, axis=0)
    # refit on all rows with each voxel's α: per-voxel shrinkage of UᵀY
    coef = np.empty((x.shape[1], n_vox), dtype=np.float32)
    intercept = np.zeros(n_vox, dtype=np.float32)
    d = s[None, :] / (s[None, :] ** 2 + alphas[:, None])
    for v0 in range(0, n_vox, voxel_chunk):
        yc = y[:, v0 : v0 + voxel_chunk].astype(np.float64)
        ym = yc.mean(0) if fit_intercept else np.zeros(yc.shape[1])
        w = u.T @ (yc - ym)
        cf = vt.T @ (d[best[v0 : v0 + voxel_chunk]].T * w)
        coef[:, v0 : v0 + voxel_chunk] = cf
        intercept[v0 : v0 + voxel_chunk] = ym - xm @ cf
    return RidgeFit(coef=coef, intercept=intercept, alpha=alphas[best], alphas=alphas, cv_mse=mse)
