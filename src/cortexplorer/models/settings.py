"""The demo models' settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="DemoModelSettings")


@dataclass(frozen=True)
class DemoModelSettings:
    """Settings of a demo model trained by :class:`EpochLoop`: its config section (``section``, which holds
    the recipe fields below and the model's own) with the run's ``seed`` and ``device``."""

    section: ClassVar[str]

    epochs: int
    batch_size: int
    learning_rate: float
    heldout_fraction: float
    seed: int
    device: str

    @classmethod
    def from_config(cls: type[S], cfg: Mapping[str, Any]) -> S:
        return cls(**cfg[cls.section], seed=cfg["seed"], device=cfg["device"])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DemoDiffusionSettings:
    """Config ``demo_diffusion`` with the run's ``seed`` and ``device``."""

    image_size: int
    channels: tuple[int, ...]
    layers_per_block: int
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    ema_decay: float
    prediction_type: str  # what the UNet predicts: "epsilon" (the noise) or "v_prediction" (√ᾱ ε − √(1−ᾱ) x0)
    noise_schedule: str  # diffusers beta_schedule: "linear" (DDPM) or "squaredcos_cap_v2" (cosine)
    snr_gamma: float | None  # Min-SNR-γ loss weighting (Hang et al. 2023); None: plain MSE
    precision: str  # "float32" or "bfloat16" (autocast of the UNet's forward pass while training)
    patch_size: int  # the UNet sees patch_size × patch_size pixel patches stacked in its channels (1: pixels)
    seed: int
    device: str

    @classmethod
    def from_config(cls, cfg: Mapping) -> DemoDiffusionSettings:
        c = cfg["demo_diffusion"]
        return cls(**{**c, "channels": tuple(c["channels"])}, seed=cfg["seed"], device=cfg["device"])


@dataclass(frozen=True)
class DemoClipSettings(DemoModelSettings):
    """Config ``demo_clip``: the recipe, AdamW's weight decay, and how captions are shortened (web alt-text)."""

    section: ClassVar[str] = "demo_clip"
    weight_decay: float
    clause_keep: float  # chance that each clause after the first stays in a training caption
    category_captions: float  # share of captions replaced by the category's phrase alone ('some food')


@dataclass(frozen=True)
class DemoCaptionerSettings(DemoModelSettings):
    """Config ``demo_captioner``: the recipe, and the size of the CLIPCap prefix and of its GPT-2."""

    section: ClassVar[str] = "demo_captioner"
    prefix_length: int  # the CLIP embedding becomes this many GPT-2 token embeddings
    n_layer: int  # GPT-2 blocks, width and attention heads
    n_embd: int
    n_head: int


@dataclass(frozen=True)
class DemoCnnSettings(DemoModelSettings):
    """Config ``demo_cnn`` with the run's ``seed`` and ``device``."""

    section: ClassVar[str] = "demo_cnn"

    width: int
    lowres_fraction: float  # share of training batches seen at half resolution (area down, bilinear up)
    batch_norm: bool = True  # not configurable: the behavioural models were validated with these
    hidden: int = 128


@dataclass(frozen=True)
class PriorJudgeSettings:
    """Rule ``demo_prior`` (config ``demo_prior``): how many unguided samples, with how many DPM-Solver++ steps,
    against how many fresh world images (drawn like the pool: the world's ``categories`` at ``image_size``)."""

    n_samples: int
    steps: int
    n_world: int
    categories: tuple[str, ...]
    image_size: int
    seed: int
    device: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> PriorJudgeSettings:
        return cls(**cfg["demo_prior"], categories=tuple(cfg["stimuli"]["categories"]),
                   image_size=cfg["stimuli"]["image_size"], seed=cfg["seed"], device=cfg["device"])
