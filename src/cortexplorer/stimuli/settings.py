"""The stimulus stages' settings (a light module: the workflow imports it when it builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DemoImageSetSettings:
    """Only the settings that shape one demo image set, so changing one set reruns only it."""

    name: str  # stimuli | pool | localizer
    n: int
    categories: tuple[str, ...]
    image_size: int
    test_fraction: float
    seed: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, imageset: str) -> DemoImageSetSettings:
        if imageset == "localizer":
            cats = cfg["simulate"]["localizer"]["categories"]
            n = cfg["stimuli"]["n_localizer_per_category"] * len(cats)
        else:
            cats = cfg["stimuli"]["categories"]
            n = cfg["stimuli"]["n_images" if imageset == "stimuli" else "n_pool"]
        st = cfg["stimuli"]
        return cls(name=imageset, n=n, categories=tuple(cats), image_size=st["image_size"],
                   test_fraction=st["test_fraction"] if imageset == "stimuli" else 0.0, seed=cfg["seed"])



@dataclass(frozen=True)
class FolderStimuliSettings:
    """A folder of images made square (``fit``: crop, pad or stretch; config ``stimuli.fit``) and resized."""

    image_size: int
    fit: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FolderStimuliSettings:
        return cls(image_size=cfg["stimuli"]["image_size"], fit=cfg["stimuli"]["fit"])
