"""Single-trial betas: least squares-all (LSA) and least squares-separate (LSS) in closed form.

LSS fits, for each trial j, the model ``[x_j, sum_{k != j} x_k, N]`` (Mumford et al. 2012).
Fitting it literally costs one regression per trial; here every trial's beta comes from one
GEMM ``Ã^T Y`` plus O(n·V) arithmetic (the trick of AFNI's 3dLSS): with ``R`` the residual-
forming matrix of the nuisance ``N``, ``Ã = R X`` and ``s̃ = R sum_k x_k``, for trial j with
``a = ã_j`` and ``b = s̃ - ã_j``

    beta_j = (b'b · a'Y - a'b · b'Y) / (a'a · b'b - (a'b)^2)

and because ``R`` is symmetric and idempotent, ``Y`` itself never needs residualizing.
"""

from __future__ import annotations

import numpy as np


def residualize(x: np.ndarray, nuisance: np.ndarray | None) -> np.ndarray:
    """``x - N N⁺ x``: the part of ``x`` (T×k) orthogonal to the nuisance columns (T×m)."""
    if nuisance is None or nuisance.shape[1] == 0:
        return x
    q, _ = np.linalg.qr(nuisance)
    return x - q @ (q.T @ x)


def _check(trials: np.ndarray, data: np.ndarray, nuisance: np.ndarray | None) -> None:
    if trials.ndim != 2 or data.ndim != 2:
        raise ValueError(f"Expected 2-D trial regressors (T×n) and data (T×V); got {trials.shape} and {data.shape}.")
    if trials.shape[0] != data.shape[0]:
        raise ValueError(f"Trial regressors have {trials.shape[0]} time points but the data have {data.shape[0]}.")
    if nuisance is not None and nuisance.shape[0] != data.shape[0]:
        raise ValueError(f"Nuisance regressors have {nuisance.shape[0]} time points but the data have {data.shape[0]}.")


def lsa_betas(trials: np.ndarray, data: np.ndarray, nuisance: np.ndarray | None = None) -> np.ndarray:
    """OLS betas of every trial regressor in one model ``[X, N]``: n×V."""
    _check(trials, data, nuisance)
    design = trials if nuisance is None else np.column_stack([trials, nuisance])
    coef, *_ = np.linalg.lstsq(design, data, rcond=None)
    return coef[: trials.shape[1]]


def lss_betas(trials: np.ndarray, data: np.ndarray, nuisance: np.ndarray | None = None) -> np.ndarray:
    """Closed-form LSS betas (n×V), equal to one ``[x_j, sum_{k≠j} x_k, N]`` fit per trial."""
    _check(trials, data, nuisance)
    a_all = residualize(trials, nuisance)  # Ã, T×n
    s = a_all.sum(axis=1)  # s̃ = R Σ x_k (R is linear)
    z = a_all.T @ data  # the one big GEMM: n×V
    zs = s @ data  # 1×V
    gjj = np.einsum("tn,tn->n", a_all, a_all)
    g = a_all.T @ s
    c = s @ s
    ata, atb, btb = gjj, g - gjj, c - 2 * g + gjj
    aty, bty = z, zs[None, :] - z
    det = ata * btb - atb**2
    if np.any(det <= 1e-12 * np.maximum(ata * btb, 1e-300)):
        bad = int(np.flatnonzero(det <= 1e-12 * np.maximum(ata * btb, 1e-300))[0])
        raise ValueError(f"Trial {bad} is collinear with the other trials' sum or the nuisance; LSS is undefined for it.")
    return (btb[:, None] * aty - atb[:, None] * bty) / det[:, None]
