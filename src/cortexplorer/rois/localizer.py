"""Category-selective regions from fLoc-style localizer runs, with nilearn's first-level GLM.

For each domain (faces, places, bodies, words) the contrast is the domain versus the mean of the
other localizer categories (fLoc's convention), fitted with ``FirstLevelModel`` (SPM HRF, AR(1)
noise, the configured confounds and drift, slice-timing reference from ``StartTime``). A voxel
joins a region when its t exceeds ``t_threshold`` inside a cluster of at least ``min_cluster_mm3``
(nilearn's ``threshold_stats_img``); a voxel above threshold for several domains goes to the one
with the highest t (then the cluster rule is applied again), so the localizer regions are mutually
exclusive, as NSD's are. Food has no localizer block: its region comes from food-versus-other
images over the main-experiment betas (a Welch t per voxel, same threshold and cluster size) and
may overlap the others.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from cortexplorer.io.tables import read_tsv
from cortexplorer.io.truth import DemoTruth
from cortexplorer.preprocess import bids_input as bi
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.preprocess.stage import nuisance_matrix
from cortexplorer.provenance import write_sidecar
from cortexplorer.rois.contract import DOMAIN_OF_CATEGORY, RoiMask, write_roi_set
from cortexplorer.rois.settings import RoisSettings
from cortexplorer.stats import dice

log = logging.getLogger(__name__)


def localizer_tmaps(bids_dir: str | os.PathLike, *, subject: str, task: str, space: str | None,
                    categories: Sequence[str] | None, confounds: Mapping, category_map: Mapping[str, str] | None = None,
                    ignore: Sequence[str] = (), res: str | None = None, sessions: Sequence[str] = (),
                    bids_index: str | None = None) -> tuple[dict[str, nib.Nifti1Image], nib.Nifti1Image]:
    """t map of each domain category (face, place, body, word) versus the mean of the other
    localizer categories, and the brain mask.

    ``category_map`` renames trial_type values first (fLoc's ``adult``/``child`` → ``face``, ...);
    trial types in ``ignore`` (baseline, fixation) are not modelled, so they form the implicit
    baseline; ``categories`` (``None``: every remaining trial type) are the conditions compared.
    """
    from nilearn.glm.first_level import FirstLevelModel

    category_map = dict(category_map or {})
    runs = bi.find_runs(bids_dir, subject=subject, task=task, space=space, res=res, sessions=sessions,
                        index_dir=bids_index)
    imgs, events, conf = [], [], []
    first = bi.load_bold(runs[0])
    mask = bi.load_mask([r.mask for r in runs], first)
    for r in runs:
        img = bi.load_bold(r)
        ev = bi.load_events(r, img.shape[3], None, stim_column="trial_type")
        ev["trial_type"] = ev["trial_type"].map(lambda t: category_map.get(t, t))
        ev = ev[~ev["trial_type"].isin(list(ignore))]
        # the data read here, so that a truncated file is named (nilearn would fail with a bare EOFError)
        imgs.append(nib.Nifti1Image(bi.image_data(img, r.bold), img.affine, img.header))
        events.append(ev[["onset", "duration", "trial_type"]])
        nuis = nuisance_matrix(r, img.shape[3], confounds)[:, 1:]  # nilearn adds the constant itself
        conf.append(pd.DataFrame(nuis, columns=[f"nuisance{i:02d}" for i in range(nuis.shape[1])]))
    trs = {r.tr for r in runs}
    starts = {r.start_time for r in runs}
    if len(trs) > 1 or len(starts) > 1:
        raise bi.BidsInputError(f"Localizer runs of sub-{subject} differ in RepetitionTime {sorted(trs)} or "
                                f"StartTime {sorted(starts)}; fit them separately or resample.")
    tr, start = trs.pop(), starts.pop()
    present = set().union(*(set(e["trial_type"]) for e in events))
    categories = sorted(present) if categories is None else list(categories)
    domains = [c for c in categories if c in DOMAIN_OF_CATEGORY and c != "food"]
    if not domains:
        raise bi.BidsInputError(
            f"None of the localizer conditions {categories} of sub-{subject} (task-{task}) is one of "
            f"{[c for c in DOMAIN_OF_CATEGORY if c != 'food']}, so no region can be made. Map your trial_type values "
            "with rois.category_map (e.g. {adult: face, child: face, house: place, corridor: place, limb: body}).")
    for r, e in zip(runs, events, strict=True):
        missing = [c for c in categories if c not in set(e["trial_type"])]
        if missing:
            raise bi.BidsInputError(f"'{r.events}' has no events of {missing} (trial_type values after "
                                    f"rois.category_map: {sorted(set(e['trial_type']))}); every localizer run needs "
                                    "every category compared, or set rois.categories.")
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), first.affine)
    model = FirstLevelModel(t_r=tr, slice_time_ref=start / tr, hrf_model="spm", drift_model=None, mask_img=mask_img,
                            noise_model="ar1", signal_scaling=0, minimize_memory=True)
    model.fit(imgs, events=events, confounds=conf)
    log.info("localizer GLM: %d runs, conditions %s, mask %d voxels", len(imgs), sorted(present), int(mask.sum()))
    tmaps = {}
    for c in domains:
        others = [o for o in categories if o != c]
        vectors = [np.array([1.0 if col == c else -1.0 / len(others) if col in others else 0.0 for col in dm.columns])
                   for dm in model.design_matrices_]
        tmaps[c] = model.compute_contrast(vectors, stat_type="t", output_type="stat")
    return tmaps, mask_img


def food_tmap(betas_h5: str | os.PathLike, stimuli_tsv: str | os.PathLike, food: str = "food") -> nib.Nifti1Image | None:
    """Welch t of food versus other images per voxel over the per-image betas (None without food images)."""
    from scipy.stats import ttest_ind

    b = read_betas(betas_h5)
    table = read_tsv(stimuli_tsv, required=["stim_id", "category"]).set_index("stim_id")
    cats = table["category"].reindex(b.stim_id).astype("string").fillna("n/a").to_numpy()
    is_food = cats == food
    other = (~is_food) & (cats != "n/a")
    if is_food.sum() < 5 or other.sum() < 5:
        log.info("fewer than 5 %s or other labelled images among the betas: no %s region", food, food)
        return None
    t = ttest_ind(b.betas[is_food], b.betas[other], axis=0, equal_var=False).statistic
    return b.volume(np.nan_to_num(t))


def _clusters_at_least(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """Keep face-connected clusters of at least ``min_voxels`` (nilearn's cluster rule)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[labels]


def threshold_regions(tmaps: Mapping[str, nib.Nifti1Image], t_threshold: float, min_cluster_voxels: int,
                      exclusive: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Boolean masks: t > threshold in clusters ≥ ``min_cluster_voxels`` (face-connected, nilearn's
    ``threshold_stats_img``). Among the ``exclusive`` maps (default: all) a voxel goes to the one
    with the highest t, and the cluster rule is applied again afterwards."""
    from nilearn.glm import threshold_stats_img

    masks, stats = {}, {}
    for c, img in tmaps.items():
        with warnings.catch_warnings():  # nilearn 0.13 warns about a future default we do not use
            warnings.filterwarnings("ignore", message=r"\s*From nilearn version>=0.15, the default 'threshold'",
                                    category=FutureWarning)
            thr, _ = threshold_stats_img(img, threshold=t_threshold, height_control=None,
                                         cluster_threshold=min_cluster_voxels, two_sided=False)
        masks[c] = np.asanyarray(thr.dataobj) > 0
        stats[c] = np.asanyarray(img.dataobj)
    names = [c for c in masks if exclusive is None or c in exclusive]
    if len(names) > 1:
        t_all = np.stack([np.where(masks[c], stats[c], -np.inf) for c in names])
        winner = np.argmax(t_all, axis=0)
        for i, c in enumerate(names):
            masks[c] = _clusters_at_least(masks[c] & (winner == i), min_cluster_voxels)
    return masks


def planted_masks(truth: DemoTruth) -> dict[str, np.ndarray]:
    """The simulated subject's planted regions united per category."""
    out: dict[str, np.ndarray] = {}
    for row in truth.planted_table().itertuples():
        m = np.asanyarray(nib.load(truth.planted_mask_path(row.roi)).dataobj) > 0
        out[row.category] = out.get(row.category, np.zeros_like(m)) | m
    return out


@dataclass
class RegionSet:
    rois: list[RoiMask]
    tmaps: dict[str, nib.Nifti1Image]  # per category, the statistic the region was cut from
    affine: np.ndarray
    min_cluster_voxels: int
    validation: dict[str, tuple[float, int]] | None  # demo: Dice with the planted region, planted size


def category_regions(tmaps: dict[str, nib.Nifti1Image], food: nib.Nifti1Image | None, mask_img: nib.Nifti1Image,
                     settings: RoisSettings, truth: DemoTruth | None) -> RegionSet:
    """Threshold the localizer t maps (mutually exclusive) and the food map (on its own) into regions."""
    localizer_domains = list(tmaps)
    if food is not None:
        if food.shape != mask_img.shape or not np.allclose(food.affine, mask_img.affine, atol=1e-3):
            raise ValueError("The betas are on a different grid from the localizer runs; "
                             "preprocess and rois must use the same space.")
        tmaps["food"] = food
    voxel_mm3 = float(abs(np.linalg.det(mask_img.affine[:3, :3])))
    min_cluster_voxels = max(1, int(np.ceil(settings.min_cluster_mm3 / voxel_mm3 - 1e-6)))
    # the localizer regions are mutually exclusive (as NSD's are); food, from another experiment and
    # another statistic, is cut on its own and may overlap them
    masks = threshold_regions(tmaps, settings.t_threshold, min_cluster_voxels, exclusive=localizer_domains)
    rule = f"t > {settings.t_threshold:g}, clusters ≥ {min_cluster_voxels} voxels ({settings.min_cluster_mm3:g} mm³)"
    rois = [RoiMask(name=DOMAIN_OF_CATEGORY[c], category=c, mask=m, threshold=rule,
                    source="food vs other images, main-experiment betas (Welch t)" if c == "food"
                    else f"task-{settings.task}: {c} vs other localizer categories (nilearn FirstLevelModel, t)")
            for c, m in masks.items()]
    for roi in rois:
        if not roi.mask.any():
            log.warning("region %s is empty at %s; lower rois.t_threshold or rois.min_cluster_mm3", roi.name, rule)
    validation = None
    if truth is not None:
        planted = planted_masks(truth)
        validation = {DOMAIN_OF_CATEGORY[c]: (dice(m, planted[c]), int(planted[c].sum()))
                      for c, m in masks.items() if c in planted}
    return RegionSet(rois, tmaps, mask_img.affine, min_cluster_voxels, validation)


def write_regions(regions: RegionSet, out_dir: str | os.PathLike, settings: RoisSettings) -> pd.DataFrame:
    extra = {f"stats/{DOMAIN_OF_CATEGORY[c]}_tstat.nii.gz": img for c, img in regions.tmaps.items()}
    table = write_roi_set(out_dir, regions.rois, regions.affine, extra_images=extra, validation=regions.validation)
    for row in table.itertuples():
        log.info("region %-7s %4d voxels%s", row.roi, row.n_voxels,
                 f", Dice with planted {row.dice_vs_truth:.2f}" if regions.validation else "")
    write_sidecar(Path(out_dir) / "provenance.json", stage="rois",
                  settings={"subject": settings.subject, "task": settings.task, "space": settings.space,
                            "res": settings.res,
                            "categories": None if settings.categories is None else list(settings.categories),
                            "confounds": dict(settings.confounds), "t_threshold": settings.t_threshold,
                            "min_cluster_mm3": settings.min_cluster_mm3, "category_map": dict(settings.category_map),
                            "ignore": list(settings.ignore), "sessions": list(settings.sessions)}, seed=None, min_cluster_voxels=regions.min_cluster_voxels)
    return table


def localizer_rois(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: RoisSettings) -> pd.DataFrame:
    """Write the rois contract for one subject; in the demo also score each region against the truth.

    ``inputs``: ``bids`` (the BIDS root), ``betas`` (betas.h5), ``stimuli`` (stimuli.tsv), ``truth``
    (demo only); ``outputs``: ``rois`` (the folder).
    """
    tmaps, mask_img = localizer_tmaps(inputs["bids"], subject=settings.subject, task=settings.task,
                                      space=settings.space, res=settings.res, categories=settings.categories,
                                      confounds=settings.confounds, category_map=settings.category_map,
                                      ignore=settings.ignore, sessions=settings.sessions,
                                      bids_index=settings.bids_index)
    food = food_tmap(inputs["betas"], inputs["stimuli"])
    truth = DemoTruth(inputs["truth"]) if inputs.get("truth") else None
    regions = category_regions(tmaps, food, mask_img, settings, truth)
    return write_regions(regions, outputs["rois"], settings)
