"""The decoding stage's settings, read once from the validated, default-filled config (defaults: the schema; none
are repeated here). One frozen dataclass per rule; light, so the workflow imports it when it builds the DAG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def decoding_backbone(cfg: Mapping[str, Any]) -> str:
    """The CLIP backbone whose embeddings the decoders predict: ``decoding.backbone``, else the first encoder's."""
    return cfg["decoding"]["backbone"] or (cfg["encoder"]["backbones"] or list(cfg["features"]["backbones"]))[0]


@dataclass(frozen=True)
class WindowSettings:
    """Rule ``decoding_windows``: one subject's parcel time series cut into a window per trial."""

    subject: str
    task: str
    space: str | None
    res: str | None
    sessions: Sequence[str]
    confounds: Mapping[str, Any]
    offset: int
    length: int
    tr_shift: int
    pretrain_stride: int
    bids_index: str | None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subject: str) -> WindowSettings:
        from cortexplorer.layout import Layout
        from cortexplorer.preprocess.settings import session_labels

        pre, win = cfg["preprocess"], cfg["decoding"]["window"]
        return cls(subject=subject, task=pre["task"], space=pre["space"] or None, res=pre["res"] or None,
                   sessions=session_labels(cfg), confounds=dict(pre["confounds"]), offset=win["offset"],
                   length=win["length"], tr_shift=win["tr_shift"], pretrain_stride=win["pretrain_stride"],
                   bids_index=Layout(cfg["dataset"]["name"]).bids_index())


@dataclass(frozen=True)
class BaselineSettings:
    """Rule ``decoding_baseline``: ridge from single-trial betas to the backbone's image embedding."""

    backbone: str
    voxels: int
    alphas: Sequence[float]
    n_folds: int
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> BaselineSettings:
        b = cfg["decoding"]["baseline"]
        return cls(backbone=decoding_backbone(cfg), voxels=b["voxels"], alphas=tuple(b["alphas"]),
                   n_folds=b["n_folds"], seed=cfg["seed"])


@dataclass(frozen=True)
class WaveSettings:
    """Rule ``decoding_wave``: the WAVE-style decoder on whole-brain windows and on the visual network alone, over
    seeds, with the network ablation."""

    backbone: str
    backbone_spec: Mapping[str, Any]
    visual_network: str
    model: Mapping[str, Any]  # width, depth, heads, dropout
    epochs: int
    lr: float
    batch_size: int
    parcel_dropout: float
    pretrain_epochs: int
    mask_fraction: float
    captions: bool
    seeds: int
    tr_shift: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> WaveSettings:
        d, w = cfg["decoding"], cfg["decoding"]["wave"]
        backbone = decoding_backbone(cfg)
        return cls(backbone=backbone, backbone_spec=dict(cfg["features"]["backbones"][backbone]),
                   visual_network=d["visual_network"],
                   model={k: w[k] for k in ("width", "depth", "heads", "dropout")}, epochs=w["epochs"], lr=w["lr"],
                   batch_size=w["batch_size"], parcel_dropout=w["parcel_dropout"],
                   pretrain_epochs=w["pretrain_epochs"], mask_fraction=w["mask_fraction"], captions=w["captions"],
                   seeds=d["seeds"], tr_shift=d["window"]["tr_shift"], device=cfg["device"], seed=cfg["seed"])


@dataclass(frozen=True)
class EvaluateSettings:
    """Rule ``decoding_evaluate``: every decoder's scores with chance and permutation p, the ablation, figures."""

    backbone: str
    visual_network: str
    semantic_column: str
    n_way: int
    top: int
    n_perm: int
    grid_stimuli: int
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EvaluateSettings:
        d = cfg["decoding"]
        return cls(backbone=decoding_backbone(cfg), visual_network=d["visual_network"],
                   semantic_column=d["semantic_column"], n_way=d["n_way"],
                   top=d["top"], n_perm=d["n_perm"], grid_stimuli=d["grid_stimuli"], seed=cfg["seed"])


@dataclass(frozen=True)
class ImagesSettings:
    """Rule ``decoding_images``: images generated toward the decoded embeddings of a few test stimuli, with
    BrainDiVE's diffusion model and loop (the embedding as the score's target, as BrainSCUBA's caption images)."""

    backbone: str
    backbone_spec: Mapping[str, Any]
    diffusion: Mapping[str, Any]
    seeds_per_stimulus: int
    steps: int
    guidance_scale: float
    first_seed: int
    batch_size: int
    grid_stimuli: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ImagesSettings:
        d, bd, im = cfg["decoding"], cfg["braindive"], cfg["brainscuba"]["images"]
        backbone = decoding_backbone(cfg)
        return cls(backbone=backbone, backbone_spec=dict(cfg["features"]["backbones"][backbone]),
                   diffusion=dict(bd["diffusion"]), seeds_per_stimulus=d["images_per_stimulus"], steps=im["steps"],
                   guidance_scale=im["guidance_scale"], first_seed=bd["first_seed"], batch_size=bd["batch_size"],
                   grid_stimuli=d["grid_stimuli"], device=cfg["device"], seed=cfg["seed"])

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds_per_stimulus))
