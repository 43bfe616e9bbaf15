"""NIfTI images: per-voxel values on a grid, and atomic writing."""

from __future__ import annotations

import os
from collections.abc import Sequence

import nibabel as nib
import numpy as np

from cortexplorer.io.atomic import atomic_path


def voxel_volume(values: np.ndarray, ijk: np.ndarray, affine: np.ndarray, shape: Sequence[int],
                 dtype=np.float32) -> nib.Nifti1Image:
    """Per-voxel values (V, or V × k) on the grid ``shape`` (0 elsewhere) as a NIfTI image."""
    values = np.asarray(values)
    data = np.zeros((*shape, *values.shape[1:]), dtype=dtype)
    data[tuple(np.asarray(ijk).T)] = values
    img = nib.Nifti1Image(data, np.asarray(affine))
    img.header.set_xyzt_units("mm", "sec")
    return img


def save_image(img: nib.Nifti1Image, path: str | os.PathLike) -> None:
    """Write a NIfTI image atomically (the temporary name keeps ``.nii.gz``, so it is compressed)."""
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
