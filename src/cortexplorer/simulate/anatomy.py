"""Where the simulated subject's voxels are and what each one is: regions, retinotopy, tissue.

Voxels live on the MNI152 template that nilearn ships, resampled to a coarse isotropic grid.
Category regions are spheres of grey matter around literature MNI coordinates (a voxel inside
several spheres joins the nearest centre); V1, V2 and V3 are nested shells around the occipital
poles with a retinotopic map (polar angle from position around the pole, eccentricity from
distance to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from nilearn import datasets

from cortexplorer.io.nifti import voxel_volume

EARLY_VISUAL = ("V1", "V2", "V3")


@dataclass
class Anatomy:
    """The voxel grid of the simulated subject (all arrays indexed by voxel, V = brain voxels)."""

    affine: np.ndarray  # 4×4
    shape: tuple[int, int, int]
    ijk: np.ndarray  # V×3 int
    xyz: np.ndarray  # V×3 mm
    grey_matter: np.ndarray  # V bool
    white_matter: np.ndarray  # V bool
    template: np.ndarray  # V float, T1 intensity
    region: np.ndarray  # V str, "" outside regions
    region_category: dict[str, str]
    rf_x: np.ndarray  # V, image fraction (early visual voxels; NaN elsewhere)
    rf_y: np.ndarray
    rf_sigma: np.ndarray

    @property
    def n_voxels(self) -> int:
        return len(self.ijk)

    def volume(self, values: np.ndarray, dtype=np.float32) -> nib.Nifti1Image:
        """Put per-voxel ``values`` (V or V×T) back on the grid as a NIfTI image."""
        return voxel_volume(values, self.ijk, self.affine, self.shape, dtype=dtype)

    def mask_image(self, mask: np.ndarray | None = None) -> nib.Nifti1Image:
        values = np.ones(self.n_voxels, np.uint8) if mask is None else mask.astype(np.uint8)
        return self.volume(values, dtype=np.uint8)


def build_anatomy(
    voxel_size_mm: int,
    regions: Sequence[dict],
    region_radius_mm: float,
    early_visual: dict,
    rng: np.random.Generator,
    *,
    jitter_mm: float = 0.0,
) -> Anatomy:
    """Lay out the subject on the template grid and assign regions and receptive fields. Each region centre
    moves by a random shift of SD ``jitter_mm`` per axis (this participant's anatomy; drawn first from ``rng``,
    and not at all when ``jitter_mm`` is 0)."""
    mask_img = datasets.load_mni152_brain_mask(resolution=voxel_size_mm)
    gm_img = datasets.load_mni152_gm_template(resolution=voxel_size_mm)
    wm_img = datasets.load_mni152_wm_template(resolution=voxel_size_mm)
    t1_img = datasets.load_mni152_template(resolution=voxel_size_mm)
    mask = np.asarray(mask_img.dataobj) > 0
    ijk = np.argwhere(mask)
    affine = mask_img.affine
    xyz = nib.affines.apply_affine(affine, ijk)
    gm = np.asarray(gm_img.dataobj)[mask]
    wm = np.asarray(wm_img.dataobj)[mask]
    grey = (gm > 0.35) & (gm >= wm)
    white = (wm > 0.5) & ~grey
    template = np.asarray(t1_img.dataobj, dtype=np.float32)[mask]

    region = np.full(len(ijk), "", dtype=object)
    region_category: dict[str, str] = {}
    # category regions: nearest centre within the radius, grey matter only
    best = np.full(len(ijk), np.inf)
    for spec in regions:
        region_category[spec["name"]] = spec["category"]
        for centre in spec["centers_mm"]:
            centre = np.asarray(centre, float)
            if jitter_mm > 0:  # no draw without jitter, so the reference participant's streams are as they were
                centre = centre + rng.normal(0.0, jitter_mm, 3)
            d = np.linalg.norm(xyz - centre, axis=1)
            take = grey & (d <= region_radius_mm) & (d < best)
            region[take] = spec["name"]
            best[take] = d[take]

    # early visual shells with a retinotopic map
    rf_x = np.full(len(ijk), np.nan)
    rf_y = np.full(len(ijk), np.nan)
    rf_sigma = np.full(len(ijk), np.nan)
    shells = list(early_visual["shells_mm"])
    poles = np.asarray(early_visual["pole_mm"], float)
    d_pole = np.linalg.norm(xyz[:, None, :] - poles[None], axis=2)
    nearest = d_pole.argmin(1)
    dist = d_pole[np.arange(len(ijk)), nearest]
    inner = 0.0
    for name, outer, size_factor in zip(EARLY_VISUAL, shells, (1.0, 1.6, 2.3), strict=True):
        take = grey & (region == "") & (dist > inner) & (dist <= outer)
        region[take] = name
        region_category[name] = "low-level"
        rel = xyz[take] - poles[nearest[take]]
        hemi_sign = -np.sign(poles[nearest[take], 0])  # left hemisphere sees the right visual field
        hemi_sign[hemi_sign == 0] = 1.0
        # polar angle from position around the pole: dorsal voxels see the lower field
        angle = np.arctan2(-rel[:, 2], np.abs(rel[:, 0]) + 1e-3)
        ecc = 0.05 + 0.33 * np.clip(rel[:, 1] / shells[-1], 0, 1) + 0.05 * rng.random(int(take.sum()))
        rf_x[take] = np.clip(0.5 + hemi_sign * ecc * np.cos(angle), 0.02, 0.98)
        rf_y[take] = np.clip(0.5 - ecc * np.sin(angle), 0.02, 0.98)
        rf_sigma[take] = size_factor * (0.03 + 0.12 * ecc)
        inner = outer
    return Anatomy(affine=affine, shape=mask.shape, ijk=ijk, xyz=xyz, grey_matter=grey, white_matter=white,
                   template=template, region=region.astype(str), region_category=region_category,
                   rf_x=rf_x, rf_y=rf_y, rf_sigma=rf_sigma)
