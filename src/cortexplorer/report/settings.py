"""The dashboard's settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard shows: the dataset's layout keys, and the config after defaults."""

    dataset: str
    mode: str
    subjects: tuple[str, ...]
    encoder_backbones: tuple[str, ...]
    search_models: tuple[str, ...]
    search_experiments: tuple[str, ...]
    montage_per_category: int
    nsd_files: tuple[str, ...]
    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, subjects: Sequence[str], encoder_backbones: Sequence[str],
                    nsd_files: Sequence[str]) -> DashboardSettings:
        return cls(dataset=cfg["dataset"]["name"], mode=cfg["dataset"]["mode"], subjects=tuple(subjects),
                   encoder_backbones=tuple(encoder_backbones),
                   search_models=tuple(cfg["visual_search"]["models"]),
                   search_experiments=tuple(cfg["visual_search"]["experiments"]),
                   montage_per_category=cfg["report"]["montage_per_category"], nsd_files=tuple(nsd_files),
                   config=cfg)
