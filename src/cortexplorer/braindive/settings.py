"""BrainDiVE's settings, read once from the validated, default-filled config (defaults: the schema and
``cortexplorer.config.MODE_DEFAULTS``; none are repeated here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SamplingSettings:
    """What shapes the samples of every seed, guided or not (rule ``braindive_unguided`` uses only these)."""

    diffusion: Mapping[str, Any]
    n_seeds: int
    first_seed: int
    steps: int
    batch_size: int
    sag_scale: float  # self-attention guidance, 0: off
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SamplingSettings:
        return cls(diffusion=dict(cfg["braindive"]["diffusion"]), device=cfg["device"], seed=cfg["seed"],
                   **{k: cfg["braindive"][k] for k in ("n_seeds", "first_seed", "steps", "batch_size", "sag_scale")})

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.n_seeds))


@dataclass(frozen=True)
class BrainDiVESettings:
    """One region's guided sampling (rule ``braindive``)."""

    sampling: SamplingSettings
    region: str
    guidance_scale: float
    keep_fraction: float
    augmentations: int
    backbone: str
    backbone_spec: Mapping[str, Any]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, region: str) -> BrainDiVESettings:
        bd = cfg["braindive"]
        return cls(sampling=SamplingSettings.from_config(cfg), region=region, guidance_scale=bd["guidance_scale"],
                   keep_fraction=bd["keep_fraction"], augmentations=bd["augmentations"], backbone=bd["backbone"],
                   backbone_spec=dict(cfg["features"]["backbones"][bd["backbone"]]))


@dataclass(frozen=True)
class EvaluationSettings:
    """The evaluation of every region's kept images (rule ``braindive_evaluate``)."""

    regions: tuple[str, ...]
    backbone: str
    backbone_spec: Mapping[str, Any]
    classifier: Mapping[str, Any] | None  # None: the demo oracle's classifier
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EvaluationSettings:
        bd = cfg["braindive"]
        return cls(regions=tuple(bd["regions"]), backbone=bd["backbone"],
                   backbone_spec=dict(cfg["features"]["backbones"][bd["backbone"]]),
                   classifier=dict(bd["classifier"]) if bd["classifier"] else None, device=cfg["device"],
                   seed=cfg["seed"])
