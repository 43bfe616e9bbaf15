"""Small statistics shared by stages."""

from __future__ import annotations

import numpy as np


def column_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of ``a`` and ``b`` (n × V each); NaN where a column is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks, 2|a∩b| / (|a| + |b|); NaN when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * float((a & b).sum()) / total if total else float("nan")
