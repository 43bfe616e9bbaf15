"""The scanpaths stage's settings, read once from the validated, default-filled config (defaults: the schema;
none are repeated here). One frozen dataclass per rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DisplaySettings:
    """Rule ``scanpath_displays``: shelf layouts, trials and their splits, rendered displays."""

    rows: int
    cols: int
    cell_px: int
    gap_px: int
    layouts: int
    trials_per_layout: int
    heldout_layouts: float
    heldout_targets: float
    val_fraction: float
    test_fraction: float
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DisplaySettings:
        sp = cfg["scanpaths"]
        shelf = sp["shelf"]
        return cls(rows=shelf["rows"], cols=shelf["cols"], cell_px=shelf["cell_px"], gap_px=shelf["gap_px"],
                   layouts=sp["layouts"], trials_per_layout=sp["trials_per_layout"],
                   heldout_layouts=sp["heldout_layouts"], heldout_targets=sp["heldout_targets"],
                   val_fraction=sp["val_fraction"], test_fraction=sp["test_fraction"], seed=cfg["seed"])


@dataclass(frozen=True)
class ObserveSettings:
    """Rule ``scanpath_observe``: scanpaths of the planted observer, ``scanpaths_per_trial`` per trial."""

    policy: Mapping[str, Any]
    scanpaths_per_trial: int
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ObserveSettings:
        sp = cfg["scanpaths"]
        return cls(policy=dict(sp["policy"]), scanpaths_per_trial=sp["scanpaths_per_trial"], seed=cfg["seed"])


@dataclass(frozen=True)
class TrainSettings:
    """Rule ``scanpath_train``: OAT at the configured size, trained on the training split."""

    model: Mapping[str, Any]
    crop_px: int
    epochs: int
    patience: int
    lr: float
    batch_trials: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TrainSettings:
        o = cfg["scanpaths"]["oat"]
        training = {"epochs", "patience", "lr", "batch_trials"}
        return cls(model={k: v for k, v in o.items() if k not in training}, crop_px=cfg["scanpaths"]["crop_px"],
                   epochs=o["epochs"], patience=o["patience"], lr=o["lr"], batch_trials=o["batch_trials"],
                   device=cfg["device"], seed=cfg["seed"])


@dataclass(frozen=True)
class EvaluateSettings:
    """Rule ``scanpath_evaluate``: every model's ``samples`` scanpaths per held-out trial against the observed
    ones, beside the planted policy's ceilings."""

    policy: Mapping[str, Any]  # the planted observer's: its ceilings
    samples: int
    baselines: tuple[str, ...]
    pixel_models: tuple[str, ...]  # the order of the rule's ``pixel`` inputs
    crop_px: int
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EvaluateSettings:
        sp = cfg["scanpaths"]
        return cls(policy=dict(sp["policy"]), samples=sp["samples"], baselines=tuple(sp["baselines"]),
                   pixel_models=tuple(sp["pixel_models"]), crop_px=sp["crop_px"], seed=cfg["seed"])


@dataclass(frozen=True)
class PixelSearchSettings:
    """Rule ``scanpath_pixel_search``: one of visual_search's pixel-level models (eccnet, ivsn) on the first
    ``trials`` held-out trials of each split, with ``network`` as backbone."""

    model: str
    network: str
    network_spec: Mapping[str, Any]
    trials: int
    deg2px: float
    max_fixations: int
    batch_size: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, model: str) -> PixelSearchSettings:
        sp, vs = cfg["scanpaths"], cfg["visual_search"]
        return cls(model=model, network=vs["network"], network_spec=dict(cfg["networks"][vs["network"]]),
                   trials=sp["pixel_trials"], deg2px=float(sp["deg2px"]),
                   max_fixations=sp["policy"]["max_fixations"], batch_size=vs["batch_size"], device=cfg["device"],
                   seed=cfg["seed"])
