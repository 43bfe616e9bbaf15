"""Writers for miniature NSD files in the real formats, shared by the NSD tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def write_nii(data: np.ndarray, path: Path, affine: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.Nifti1Image(data, affine).to_filename(path)
    return path


def floc_labels(shape: tuple[int, ...], counts: dict[int, int], rng: np.random.Generator) -> np.ndarray:
    """An NSD ROI label volume: -1 on the x borders (outside the brain), 0 elsewhere, ``counts[label]``
    voxels per label inside."""
    vol = np.zeros(shape, dtype=np.int16)
    vol[0], vol[-1] = -1, -1
    inside = np.flatnonzero((vol == 0).ravel())
    chosen = rng.choice(inside, sum(counts.values()), replace=False)
    vol.ravel()[chosen] = np.repeat(list(counts), list(counts.values()))
    return vol
