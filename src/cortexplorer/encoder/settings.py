"""The encoder stage's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncoderSettings:
    """One subject's encoder on one backbone: config ``encoder``, the backbone's spec and the run's seed."""

    backbone: str
    backbone_spec: dict | None  # None: do not check which model made the features
    target: str  # "averaged" (per-image betas) or "trials"
    test_split: str
    n_folds: int
    alphas: dict  # log10_min, log10_max, n: the ridge grid
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping, backbone: str) -> EncoderSettings:
        e = cfg["encoder"]
        return cls(backbone, dict(cfg["features"]["backbones"][backbone]), e["target"], e["test_split"], e["n_folds"],
                   dict(e["alphas"]), cfg["seed"])

    @property
    def alpha_grid(self) -> np.ndarray:
        return np.logspace(self.alphas["log10_min"], self.alphas["log10_max"], self.alphas["n"])
