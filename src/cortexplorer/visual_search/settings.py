"""The visual_search stage's settings, read once from the validated, default-filled config (defaults: the
schema and ``cortexplorer.config``'s mode tables; none are repeated here). One frozen dataclass per rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BASELINE_MODELS = ("chance", "pixelmatch")  # cortexplorer.visual_search.baselines: no network


@dataclass(frozen=True)
class StimuliSettings:
    """Rule ``visual_search_stimuli``: one experiment's displays."""

    experiment: str
    scale: float
    trials_per_set_size: int | None  # None: the reference's trial counts (config "reference")
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, experiment: str) -> StimuliSettings:
        vs = cfg["visual_search"]
        per = vs["trials_per_set_size"]
        return cls(experiment=experiment, scale=vs["scale"], trials_per_set_size=None if per == "reference" else per,
                   seed=cfg["seed"])


@dataclass(frozen=True)
class SearchSettings:
    """Rule ``visual_search``: one model (eccnet, ivsn, or a baseline without a network) on one experiment's
    displays."""

    model: str
    network: str | None  # None for the baselines (chance, pixelmatch)
    network_spec: Mapping[str, Any] | None
    batch_size: int
    recognition_px: int
    device: str
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, model: str) -> SearchSettings:
        vs = cfg["visual_search"]
        uses_network = model not in BASELINE_MODELS
        return cls(model=model, network=vs["network"] if uses_network else None,
                   network_spec=dict(cfg["networks"][vs["network"]]) if uses_network else None,
                   batch_size=vs["batch_size"], recognition_px=vs["recognition_px"], device=cfg["device"],
                   seed=cfg["seed"])


@dataclass(frozen=True)
class SummarySettings:
    """Rule ``visual_search_summary``: the models and experiments whose fixation tables it reads, in the
    order of its ``fixations`` input (model-major, then experiment)."""

    models: tuple[str, ...]
    experiments: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SummarySettings:
        vs = cfg["visual_search"]
        return cls(models=tuple(vs["models"]), experiments=tuple(vs["experiments"]))
