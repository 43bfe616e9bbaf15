"""The features stage's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FeaturesSettings:
    """One backbone's embedding of the stimuli: config ``features`` (the backbone's spec, ``batch_size``),
    the run's ``device`` and ``seed``; ``normalize`` is False only for BrainSCUBA's raw bank."""

    backbone: str
    spec: dict
    batch_size: int
    device: str
    seed: int
    normalize: bool

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], backbone: str) -> FeaturesSettings:
        f = cfg["features"]
        return cls(backbone, dict(f["backbones"][backbone]), f["batch_size"], cfg["device"], cfg["seed"],
                   normalize=True)
