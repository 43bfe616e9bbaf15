"""BrainSCUBA's settings per rule, read once from the validated, default-filled config (defaults: the schema and
``cortexplorer.config.MODE_DEFAULTS``; none are repeated here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _backbone(cfg: Mapping[str, Any]) -> tuple[str, dict]:
    name = cfg["brainscuba"]["backbone"]
    return name, dict(cfg["features"]["backbones"][name])


@dataclass(frozen=True)
class BankSettings:
    """The demo's image bank: raw (not unit-normalised) embeddings of the pool (rule ``brainscuba_bank``)."""

    batch_size: int  # features.batch_size
    backbone: str
    backbone_spec: Mapping[str, Any]
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> BankSettings:
        name, spec = _backbone(cfg)
        return cls(batch_size=cfg["features"]["batch_size"], backbone=name, backbone_spec=spec, device=cfg["device"],
                   seed=cfg["seed"])


@dataclass(frozen=True)
class BankBuildSettings(BankSettings):
    """The bank built from the user's images (rules ``brainscuba_bank_index``, ``_shard``, ``_manifest``): the
    embedding settings of the demo's bank, plus the source folder and its shard size."""

    source: str  # brainscuba.bank_images
    shard_size: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> BankBuildSettings:
        base = BankSettings.from_config(cfg)
        bs = cfg["brainscuba"]
        return cls(**vars(base), source=bs["bank_images"], shard_size=bs["bank_shard_size"])


@dataclass(frozen=True)
class ProjectionSettings:
    """The soft convex projection (rule ``brainscuba_project``); ``sample_size`` None: the bank split evenly."""

    temperature: float
    repeats: int
    sample_size: int | None
    chunk_rows: int
    bank_dataset: str
    score_metric: str  # the encoder's metrics.tsv column that min_score applies to
    min_score: float | None  # voxels scoring below it are not projected (nor captioned); None: every voxel
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ProjectionSettings:
        keys = ("temperature", "repeats", "sample_size", "chunk_rows", "bank_dataset")
        threshold = cfg["brainscuba"]["min_score"]
        return cls(*(cfg["brainscuba"][k] for k in keys), score_metric=threshold["metric"],
                   min_score=threshold["value"], device=cfg["device"], seed=cfg["seed"])


@dataclass(frozen=True)
class CaptionSettings:
    """One caption per voxel and repeat (rule ``brainscuba_captions``)."""

    captioner: Mapping[str, Any]
    regions: tuple[str, ...]
    beam_size: int
    max_length: int
    batch_size: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CaptionSettings:
        return cls(dict(cfg["brainscuba"]["captioner"]), tuple(cfg["brainscuba"]["regions"]),
                   *(cfg["brainscuba"][k] for k in ("beam_size", "max_length", "batch_size")), cfg["device"],
                   cfg["seed"])


@dataclass(frozen=True)
class SemanticsSettings:
    """Caption semantics per region (rule ``brainscuba_semantics``); ``on_template``: draw on fsaverage5 (the
    data are in template space), else on the subject's slices (NSD)."""

    regions: tuple[str, ...]
    lexicon: str | None  # None: the shipped lexicon
    top_k: int
    on_template: bool
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SemanticsSettings:
        return cls(regions=tuple(cfg["brainscuba"]["regions"]), lexicon=cfg["brainscuba"]["lexicon"],
                   top_k=cfg["brainscuba"]["top_nouns"], on_template=cfg["dataset"]["mode"] != "nsd", seed=cfg["seed"])


@dataclass(frozen=True)
class CaptionImageSettings:
    """Images from each region's typical captions, with BrainDiVE's diffusion model, seeds and classifier (rule
    ``brainscuba_images``)."""

    regions: tuple[str, ...]
    backbone: str
    backbone_spec: Mapping[str, Any]
    diffusion: Mapping[str, Any]
    classifier: Mapping[str, Any] | None  # None: the demo oracle's classifier
    n_captions: int
    seeds_per_caption: int
    steps: int
    guidance_scale: float
    first_seed: int
    batch_size: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CaptionImageSettings:
        bs, bd = cfg["brainscuba"], cfg["braindive"]
        name, spec = _backbone(cfg)
        im = bs["images"]
        return cls(regions=tuple(bs["regions"]), backbone=name, backbone_spec=spec, diffusion=dict(bd["diffusion"]),
                   classifier=dict(bd["classifier"]) if bd["classifier"] else None, n_captions=im["n_captions"],
                   seeds_per_caption=im["seeds_per_caption"], steps=im["steps"],
                   guidance_scale=im["guidance_scale"], first_seed=bd["first_seed"], batch_size=bd["batch_size"],
                   device=cfg["device"], seed=cfg["seed"])

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds_per_caption))
