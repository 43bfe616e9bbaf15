"""Triplet choices: reading human data, simulated observers, and the logistic choice model.

Choice model (the face/hat paper's analysis as reconstructed in reference §4.4, with a lapse rate)::

    P(choose image2) = λ/2 + (1 − λ) · σ(β0 + β_high · z_high + β_low · z_low)

with ``z = d / σ_d``: each layer's similarity difference (image2 minus image1, to the root) divided
by the standard deviation of that layer's similarity matrix, so β is "per σ of similarity" and
comparable across layers. Fitted by maximum likelihood (scipy L-BFGS-B, analytic gradient);
without a lapse it is plain logistic regression (equal to scikit-learn's, tested).

A choices table has one row per trial: ``root``, ``image1``, ``image2`` and ``choice`` (image ids;
``choice`` is ``image1``'s or ``image2``'s id) and ``subject``. Simulated tables add ``p_image2``,
the observer's true choice probability, from which the analytic ceiling follows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from cortexplorer.io.tables import read_tsv

CHOICE_COLUMNS = ("root", "image1", "image2", "choice", "subject")


def read_choices(path: str | os.PathLike, image_ids: np.ndarray | list[str]) -> pd.DataFrame:
    """A human choices TSV, checked: every image id known, every choice one of the trial's two images."""
    table = read_tsv(path, required=CHOICE_COLUMNS)
    for col in CHOICE_COLUMNS:
        table[col] = table[col].astype(str)
    known = set(map(str, image_ids))
    unknown = sorted({v for col in ("root", "image1", "image2") for v in table[col]} - known)
    if unknown:
        raise ValueError(f"Choices file '{path}' references {len(unknown)} image id(s) that are not in the image set "
                         f"(first: {unknown[:5]}). Its root/image1/image2 columns must hold the stim_id values of the "
                         "images the triplets were built from (triplets.tsv lists them).")
    bad = table.index[(table["choice"] != table["image1"]) & (table["choice"] != table["image2"])]
    if len(bad):
        row = table.loc[bad[0]]
        raise ValueError(f"Choices file '{path}', row {bad[0] + 2}: choice {row['choice']!r} is neither image1 "
                         f"({row['image1']!r}) nor image2 ({row['image2']!r}); {len(bad)} such row(s). The choice "
                         "column must hold the id of the image the participant picked as more similar to the root.")
    return table


def simulate_observers(triplets: pd.DataFrame, *, n_observers: int, n_trials: int, beta_high: float,
                       beta_low: float, jitter: float, lapse: float, rng: np.random.Generator) -> pd.DataFrame:
    """Choices of observers who weigh the z-scored high- and low-level differences with known weights.

    Each observer's weights are the planted ones times ``1 + jitter · N(0, 1)``; each sees ``n_trials``
    triplets drawn with replacement from ``triplets`` (so triplets repeat, for the noise ceiling).
    ``triplets`` needs root/image1/image2 ids and ``z_high``, ``z_low``.
    """
    rows = []
    for s in range(n_observers):
        bh = beta_high * (1 + jitter * rng.standard_normal())
        bl = beta_low * (1 + jitter * rng.standard_normal())
        pick = rng.integers(0, len(triplets), n_trials)
        t = triplets.iloc[pick]
        p = lapse / 2 + (1 - lapse) * special.expit(bh * t["z_high"].to_numpy() + bl * t["z_low"].to_numpy())
        second = rng.random(n_trials) < p
        rows.append(pd.DataFrame({
            "root": t["root"].to_numpy(), "image1": t["image1"].to_numpy(), "image2": t["image2"].to_numpy(),
            "choice": np.where(second, t["image2"].to_numpy(), t["image1"].to_numpy()),
            "subject": f"sim{s + 1:02d}", "p_image2": p, "beta_high_true": bh, "beta_low_true": bl}))
    return pd.concat(rows, ignore_index=True)


@dataclass
class ChoiceFit:
    """A fitted choice model: coefficients (intercept first), their standard errors, the lapse rate."""

    coef: np.ndarray
    se: np.ndarray
    lapse: float
    lapse_se: float
    loglik: float
    n: int

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.lapse / 2 + (1 - self.lapse) * special.expit(self.coef[0] + x @ self.coef[1:])


def _negloglik(theta: np.ndarray, x1: np.ndarray, y: np.ndarray, with_lapse: bool) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and its gradient; the lapse is λ = σ(θ_last) so it stays in (0, 1)."""
    k = x1.shape[1]
    eta = x1 @ theta[:k]
    s = special.expit(eta)
    lam = special.expit(theta[k]) if with_lapse else 0.0
    p = np.clip(lam / 2 + (1 - lam) * s, 1e-12, 1 - 1e-12)
    nll = -np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))
    dl_dp = -(y / p - (1 - y) / (1 - p))
    grad = x1.T @ (dl_dp * (1 - lam) * s * (1 - s))
    if with_lapse:
        grad = np.append(grad, np.sum(dl_dp * (0.5 - s)) * lam * (1 - lam))
    return float(nll), grad


def fit_choice_model(x: np.ndarray, y: np.ndarray, *, lapse: bool = True) -> ChoiceFit:
    """Maximum-likelihood fit of P(y = 1) = λ/2 + (1 − λ)·σ(β0 + x·β); SEs from the observed information."""
    x = np.asarray(x, float).reshape(len(y), -1)
    y = np.asarray(y, float)
    x1 = np.column_stack([np.ones(len(y)), x])
    theta0 = np.zeros(x1.shape[1] + (1 if lapse else 0))
    if lapse:
        theta0[-1] = special.logit(0.02)
    res = optimize.minimize(_negloglik, theta0, args=(x1, y, lapse), jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000, "gtol": 1e-9})
    if not res.success and res.status != 0:
        raise RuntimeError(f"The choice model did not converge: {res.message}")
    theta = res.x
    # observed information by central differences of the analytic gradient
    eps = 1e-5
    hess = np.empty((len(theta), len(theta)))
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = eps
        hess[i] = (_negloglik(theta + step, x1, y, lapse)[1] - _negloglik(theta - step, x1, y, lapse)[1]) / (2 * eps)
    cov = np.linalg.pinv(0.5 * (hess + hess.T))
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    k = x1.shape[1]
    lam = float(special.expit(theta[k])) if lapse else 0.0
    lam_se = float(se[k] * lam * (1 - lam)) if lapse else 0.0  # delta method
    return ChoiceFit(coef=theta[:k], se=se[:k], lapse=lam, lapse_se=lam_se, loglik=-float(res.fun), n=len(y))


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int, lapse: bool,
                             seed: int = 0) -> float:
    """Accuracy of predicting held-out choices (p > 0.5 → image2), folds split by triplet so repeats don't leak."""
    from sklearn.model_selection import GroupKFold

    x = np.asarray(x, float).reshape(len(y), -1)
    hits = 0
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y, groups):
        fit = fit_choice_model(x[train], y[train], lapse=lapse)
        hits += int(np.sum((fit.predict_proba(x[test]) > 0.5) == (y[test] > 0.5)))
    return hits / len(y)


def analytic_ceiling(p_true: np.ndarray) -> float:
    """The best possible accuracy on choices drawn with probabilities ``p_true``: mean of max(p, 1 − p)."""
    p = np.asarray(p_true, float)
    return float(np.mean(np.maximum(p, 1 - p)))


def repeat_ceiling(y: np.ndarray, triplet: np.ndarray) -> tuple[float, int]:
    """Noise ceiling from repeated triplets: each trial predicted by the majority of the *other* trials of
    its triplet (ties count half), averaged over trials of triplets shown at least twice.

    Leaving the trial out avoids the upward bias of "agreement with the modal choice" at few repeats;
    it slightly underestimates the ceiling instead. Returns (ceiling, number of trials used).
    """
    df = pd.DataFrame({"y": np.asarray(y, float), "t": np.asarray(triplet)})
    g = df.groupby("t")["y"]
    n = g.transform("size").to_numpy()
    ones = g.transform("sum").to_numpy()
    keep = n >= 2
    others = (ones - df["y"].to_numpy())[keep] / (n[keep] - 1)
    yk = df["y"].to_numpy()[keep]
    score = np.where(others == 0.5, 0.5, ((others > 0.5) == (yk > 0.5)).astype(float))
    return (float(score.mean()) if keep.any() else float("nan")), int(keep.sum())
