"""Entry points of the ``stimuli`` rules: the demo's image sets and a BIDS dataset's stimulus folder.

Each rule builds its settings with ``from_config(CFG, ...)`` and its script calls
``run_stage(snakemake, entry)``; outputs are the fields of :class:`cortexplorer.layout.ImageSetPaths`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cortexplorer.stimuli.folder import import_image_folder
from cortexplorer.stimuli.generate import make_demo_image_set
from cortexplorer.stimuli.settings import DemoImageSetSettings, FolderStimuliSettings


def write_demo_image_set(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: DemoImageSetSettings) -> None:
    make_demo_image_set(settings.name, out_h5=outputs["images"], out_tsv=outputs["table"],
                        out_provenance=outputs["provenance"], n=settings.n, categories=list(settings.categories),
                        image_size=settings.image_size, test_fraction=settings.test_fraction, seed=settings.seed)


def import_stimuli_folder(inputs: Mapping[str, Any], outputs: Mapping[str, str], settings: FolderStimuliSettings
                          ) -> None:
    """``inputs["folder"]``: the BIDS dataset's stimulus folder (``bids.stimuli_dir``)."""
    import_image_folder(folder=inputs["folder"], image_size=settings.image_size, fit=settings.fit,
                        out_h5=outputs["images"], out_tsv=outputs["table"], out_provenance=outputs["provenance"])
