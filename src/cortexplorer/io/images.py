"""The image-set contract: ``images.h5`` (uint8 N×H×W×3, dataset ``images``) + ``stimuli.tsv``.

The TSV has one row per image, in the same order as the HDF5 array, with at least
``stim_id``, ``category``, ``caption`` and ``split``. The HDF5 file repeats the stimulus ids
(dataset ``stim_id``) so that a table and an array from different runs are never paired.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cortexplorer.io.hdf5 import open_h5, read_strings, write_h5
from cortexplorer.io.tables import read_tsv, write_tsv

REQUIRED_COLUMNS = ("stim_id", "category", "caption", "split")


@dataclass
class ImageSet:
    """Images and their table, row ``i`` of ``table`` describing ``images[i]``."""

    images: np.ndarray  # uint8, N×H×W×3
    table: pd.DataFrame

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(
                f"Expected uint8 images of shape N×H×W×3; got {self.images.dtype} {self.images.shape}."
            )
        if len(self.table) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.table)} table rows.")
        missing = [c for c in REQUIRED_COLUMNS if c not in self.table.columns]
        if missing:
            raise ValueError(f"Image table lacks column(s) {missing}.")
        if self.table["stim_id"].duplicated().any():
            dup = self.table.loc[self.table["stim_id"].duplicated(), "stim_id"].iloc[0]
            raise ValueError(f"Duplicate stim_id {dup!r} in image table.")

    def __len__(self) -> int:
        return len(self.images)


def write_image_set(image_set: ImageSet, h5_path: str | os.PathLike, tsv_path: str | os.PathLike) -> None:
    """Write an image set atomically to the HDF5 + TSV pair."""
    write_h5(h5_path, {"images": image_set.images, "stim_id": image_set.table["stim_id"].to_numpy().astype(str)},
             compress=("images",), chunks={"images": (1, *image_set.images.shape[1:])})
    write_tsv(image_set.table, tsv_path)


def read_image_dir(folder: str | os.PathLike) -> ImageSet:
    """Read the image set a stage wrote to ``folder`` (``images.h5`` + ``stimuli.tsv``)."""
    return read_image_set(Path(folder) / "images.h5", Path(folder) / "stimuli.tsv")


def read_image_set(h5_path: str | os.PathLike, tsv_path: str | os.PathLike) -> ImageSet:
    """Read an image set and check that the array and the table belong together."""
    h5_path, tsv_path = Path(h5_path), Path(tsv_path)
    with open_h5(h5_path, made_by="stimuli") as f:
        if "images" not in f:
            raise ValueError(f"'{h5_path}' has no dataset 'images' (found {list(f)}).")
        images = f["images"][:]
        ids = read_strings(f["stim_id"]) if "stim_id" in f else None
    table = read_tsv(tsv_path, required=REQUIRED_COLUMNS)
    if ids is not None and not np.array_equal(ids, table["stim_id"].to_numpy().astype(str)):
        raise ValueError(
            f"'{h5_path}' and '{tsv_path}' list different stimulus ids; they come from different runs. "
            "Delete both and rerun the stage that makes them."
        )
    return ImageSet(images, table)
