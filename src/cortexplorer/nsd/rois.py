"""Import NSD's drawn fLoc ROIs (``roi/floc-{faces,places,bodies,words}.nii.gz``) into the rois contract.

Each file holds integer labels on the subject's func1pt8mm grid: -1 outside the brain mask,
0 unlabelled, >= 1 a subregion. NSD drew them by hand on the fLoc t-maps ("(liberal) thresholding
at t > 0"). We write one mask per domain (the union of its labels) and one per labelled subregion.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from cortexplorer.rois.contract import DOMAIN_OF_CATEGORY, RoiMask, write_roi_set

log = logging.getLogger(__name__)

# Label value -> subregion name per file. The order of the labels is RECALLED from the NSD data
# manual (ROIs page) and not verified against the files' .ctab tables; floc-faces 1-3 and
# floc-places 1-3 agree with BrainDiVE's code, the rest is unverified.
SUBREGIONS: dict[str, dict[int, str]] = {
    "floc-faces": {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"},
    "floc-places": {1: "OPA", 2: "PPA", 3: "RSC"},
    "floc-bodies": {1: "EBA", 2: "FBA-1", 3: "FBA-2", 4: "mTL-bodies"},
    "floc-words": {1: "OWFA", 2: "VWFA-1", 3: "VWFA-2", 4: "mfs-words", 5: "mTL-words"},
}
THRESHOLD = "NSD drawn ROI (t > 0, manual)"
_CATEGORY_OF_DOMAIN = {domain: category for category, domain in DOMAIN_OF_CATEGORY.items()}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _labels(path: Path, key: str) -> nib.Nifti1Image:
    if not path.exists():
        raise FileNotFoundError(f"NSD ROI file '{path}' ({key}) does not exist; fetch it (rule fetch_nsd) or fix "
                                "config key 'nsd.root'.")
    return nib.load(path)


def import_nsd_rois(*, roi_files: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike) -> pd.DataFrame:
    """Write domain masks (``faces``, ...) and subregion masks (``FFA-1``, ...) to ``out_dir`` with ``rois.tsv``.

    ``roi_files`` maps ``floc-faces`` / ``floc-places`` / ``floc-bodies`` / ``floc-words`` (any subset)
    to the subject's files. All files must share one grid. Subregions with no voxel are left out
    (logged); a file with no labelled voxel at all is an error.
    """
    if not roi_files:
        raise ValueError(f"No NSD ROI files given; pass some of {sorted(SUBREGIONS)}.")
    unknown = sorted(set(roi_files) - set(SUBREGIONS))
    if unknown:
        raise ValueError(f"Unknown NSD ROI file key(s) {unknown}; expected some of {sorted(SUBREGIONS)}.")
    rois: list[RoiMask] = []
    grid: tuple[Path, tuple[int, ...], np.ndarray] | None = None
    for key in sorted(roi_files):
        path = Path(roi_files[key])
        img = _labels(path, key)
        if grid is None:
            grid = (path, tuple(img.shape), img.affine)
        elif tuple(img.shape) != grid[1] or not np.allclose(img.affine, grid[2], atol=1e-3):
            raise ValueError(f"NSD ROI files '{grid[0]}' and '{path}' are on different grids (shape {grid[1]} vs "
                             f"{tuple(img.shape)}, affine\n{np.round(grid[2], 3)}\nvs\n{np.round(img.affine, 3)}); "
                             "use the func1pt8mm files of one subject.")
        if len(img.shape) != 3:
            raise ValueError(f"NSD ROI file '{path}' has shape {tuple(img.shape)}; expected a 3-D label volume.")
        data = np.asanyarray(img.dataobj)
        if not np.all(np.isfinite(data)) or not np.array_equal(data, np.round(data)):
            raise ValueError(f"NSD ROI file '{path}' holds non-integer values; is it a roi/{key}.nii.gz label file "
                             "(not a t-map)?")
        labels = np.round(data).astype(np.int64)
        names = SUBREGIONS[key]
        bad = sorted(set(np.unique(labels).tolist()) - {-1, 0, *names})
        if bad:
            raise ValueError(f"NSD ROI file '{path}' has label value(s) {bad}; {key} knows -1 (outside the brain), "
                             f"0 (unlabelled) and {names}. Is it the right file for '{key}'?")
        domain = key.removeprefix("floc-")
        category = _CATEGORY_OF_DOMAIN[domain]
        source = path.name
        union = labels >= 1
        if not union.any():
            raise ValueError(f"NSD ROI file '{path}' has no labelled voxel (>= 1); it cannot define '{domain}'.")
        rois.append(RoiMask(name=domain, category=category, mask=union, threshold=THRESHOLD, source=source))
        for value, name in names.items():
            assert _SAFE_NAME.match(name), name
            sub = labels == value
            if not sub.any():
                log.info("%s: subregion %s (label %d) has no voxel in this subject; skipped", path.name, name, value)
                continue
            rois.append(RoiMask(name=name, category=category, mask=sub, threshold=THRESHOLD, source=source))
        log.info("%s: %s = %d voxels in %d subregions", path.name, domain, int(union.sum()),
                 sum(int((labels == v).any()) for v in names))
    assert grid is not None
    return write_roi_set(out_dir, rois, grid[2])
