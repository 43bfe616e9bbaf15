"""The rois contract: ``rois/sub-XX/{roi}.nii.gz`` (uint8 masks on the subject grid) and ``rois.tsv``.

``rois.tsv`` has one row per mask: ``roi``, ``category`` (the preferred stimulus category, e.g.
``face``), ``n_voxels``, ``threshold`` (how the mask was cut, in words) and ``source``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from cortexplorer.io.atomic import atomic_dir
from cortexplorer.io.tables import read_tsv, write_tsv

# fLoc domains and the stimulus category each prefers (NSD names its files floc-faces, ...).
DOMAIN_OF_CATEGORY = {"face": "faces", "place": "places", "body": "bodies", "word": "words", "food": "food"}


@dataclass
class RoiMask:
    name: str
    category: str
    mask: np.ndarray  # bool, grid shape
    threshold: str
    source: str


def write_roi_set(out_dir: str | os.PathLike, rois: Sequence[RoiMask], affine: np.ndarray, *,
                  extra_images: Mapping[str, nib.Nifti1Image] | None = None,
                  validation: Mapping[str, tuple[float, int]] | None = None) -> pd.DataFrame:
    """Write every mask and ``rois.tsv`` into ``out_dir`` (replaced as a whole, atomically).

    ``extra_images`` (relative path -> image) are written alongside, e.g. the t maps under
    ``stats/``. ``validation`` (roi -> (Dice with the planted region, planted voxels)) adds the
    columns ``dice_vs_truth`` and ``n_voxels_true`` (demo only).
    """
    rows = []
    with atomic_dir(out_dir) as tmp:
        for rel, img in (extra_images or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            img.to_filename(tmp / rel)
        for roi in rois:
            img = nib.Nifti1Image(roi.mask.astype(np.uint8), np.asarray(affine))
            img.header.set_xyzt_units("mm")
            img.to_filename(tmp / f"{roi.name}.nii.gz")
            rows.append({"roi": roi.name, "category": roi.category, "n_voxels": int(roi.mask.sum()),
                         "threshold": roi.threshold, "source": roi.source})
        columns = ["roi", "category", "n_voxels", "threshold", "source"]
        if validation is not None:
            columns += ["dice_vs_truth", "n_voxels_true"]
            for row in rows:
                row["dice_vs_truth"], row["n_voxels_true"] = validation.get(row["roi"], (float("nan"), 0))
        table = pd.DataFrame(rows, columns=columns)
        write_tsv(table, tmp / "rois.tsv")
    return table


def read_roi_set(folder: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, nib.Nifti1Image]]:
    folder = Path(folder)
    table = read_tsv(folder / "rois.tsv", required=["roi", "category", "n_voxels"])
    return table, {r: nib.load(folder / f"{r}.nii.gz") for r in table["roi"]}
