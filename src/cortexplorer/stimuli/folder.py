"""Import a folder of stimulus images (BIDS ``stimuli/``) into the image-set contract."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cortexplorer.io.images import ImageSet, write_image_set
from cortexplorer.io.tables import read_tsv
from cortexplorer.provenance import write_sidecar

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def import_image_folder(*, folder: str | os.PathLike, image_size: int, out_h5: str | os.PathLike,
                        out_tsv: str | os.PathLike, out_provenance: str | os.PathLike) -> None:
    """Every image file in ``folder`` becomes a stimulus whose ``stim_id`` is the file stem.

    An optional ``stimuli.tsv`` in the folder (``stim_id`` plus any of ``category``, ``caption``,
    ``split``) annotates them; a row naming a missing image is an error.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"No images ({sorted(IMAGE_SUFFIXES)}) in stimulus folder '{folder}'. "
                                "Point bids.stimuli_dir at the folder holding your stimulus images.")
    table = pd.DataFrame({"stim_id": [p.stem for p in files], "category": pd.NA, "caption": pd.NA, "split": "train"})
    annotations = folder / "stimuli.tsv"
    if annotations.exists():
        ann = read_tsv(annotations, required=["stim_id"]).set_index("stim_id")
        unknown = sorted(set(ann.index) - set(table["stim_id"]))
        if unknown:
            raise ValueError(f"'{annotations}' lists stim_id(s) with no image file: {unknown[:5]}"
                             f"{' …' if len(unknown) > 5 else ''}. Add the images or remove those rows.")
        for col in ("category", "caption", "split"):
            if col in ann.columns:
                table[col] = table["stim_id"].map(ann[col]).fillna(table[col])
    images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((image_size, image_size), Image.BICUBIC))
                       for p in files]).astype(np.uint8)
    write_image_set(ImageSet(images, table), out_h5, out_tsv)
    log.info("imported %d images from %s", len(files), folder)
    write_sidecar(out_provenance, stage="stimuli/folder", settings={"folder": str(folder), "image_size": image_size},
                  seed=None, n_images=len(files))
