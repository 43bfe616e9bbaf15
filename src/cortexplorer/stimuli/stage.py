"""Entry points of the ``stimuli`` rules: the demo's image sets and a BIDS dataset's stimulus folder.

Each rule builds its settings with ``from_config(CFG, ...)`` and its script calls
``run_stage(snakemake, entry)``; outputs are the fields of :class:`cortexplorer.layout.ImageSetPaths`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cortexplorer.stimuli.folder import import_image_folder
from cortexplorer.stimuli.generate import make_demo_image_set


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


def write_demo_image_set(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: DemoImageSetSettings) -> None:
    make_demo_image_set(settings.name, out_h5=outputs["images"], out_tsv=outputs["table"],
                        out_provenance=outputs["provenance"], n=settings.n, categories=list(settings.categories),
                        image_size=settings.image_size, test_fraction=settings.test_fraction, seed=settings.seed)


@dataclass(frozen=True)
class FolderStimuliSettings:
    """A folder of images made square (``fit``: crop, pad or stretch; config ``stimuli.fit``) and resized."""

    image_size: int
    fit: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FolderStimuliSettings:
        return cls(image_size=cfg["stimuli"]["image_size"], fit=cfg["stimuli"]["fit"])


def import_stimuli_folder(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: FolderStimuliSettings
                          ) -> None:
    """``inputs["folder"]``: the BIDS dataset's stimulus folder (``bids.stimuli_dir``)."""
    import_image_folder(folder=inputs["folder"], image_size=settings.image_size, fit=settings.fit,
                        out_h5=outputs["images"], out_tsv=outputs["table"], out_provenance=outputs["provenance"])
