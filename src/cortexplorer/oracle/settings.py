"""The oracle's settings, read once from the validated config (a light module: the workflow imports it when it
builds the DAG, before any job runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class OracleSettings:
    """The oracle's training (config ``oracle``, the world's categories and image size, ``device``)."""

    categories: tuple[str, ...]
    image_size: int
    seed: int
    n_train: int
    n_heldout: int
    epochs: int
    batch_size: int
    learning_rate: float
    width: int
    temperature: float
    device: str

    @classmethod
    def from_config(cls, cfg: Mapping) -> OracleSettings:
        return cls(**cfg["oracle"], categories=tuple(cfg["stimuli"]["categories"]),
                   image_size=cfg["stimuli"]["image_size"], device=cfg["device"])
