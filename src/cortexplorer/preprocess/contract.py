"""The preprocess contract: ``sub-XX/betas.h5`` plus voxel maps on the subject's grid.

Every input mode (demo, bids, nsd) ends here, so later stages read one format:

``betas.h5`` datasets

- ``trial_betas`` (trials × V float32): single-trial betas, z-scored per voxel within each session;
  ``trial_stim_id``, ``trial_session`` (1, 2, … in the natural order of the session labels),
  ``trial_run`` (one per trial, chronological order).
- ``betas`` (stimuli × V float32): the mean of each stimulus's z-scored trials;
  ``stim_id``, ``n_trials`` (repeats averaged per stimulus).
- ``voxel_ijk`` (V × 3 int32), ``affine`` (4 × 4), ``shape`` (3,): where voxel v sits.
- ``maps/<name>`` (V): per-voxel diagnostics (``ncsnr``, ``noiseceiling``, ``r2``, ...).

File attributes hold the units and how the betas were made (``source``, ``step``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nibabel as nib
import numpy as np

from cortexplorer.io.hdf5 import open_h5, read_strings, write_h5
from cortexplorer.io.nifti import voxel_volume
from cortexplorer.preprocess.noise_ceiling import ncsnr, noise_ceiling, pooled_ncsnr, zscore_per_session

log = logging.getLogger(__name__)


@dataclass
class Betas:
    trial_betas: np.ndarray
    trial_stim_id: np.ndarray
    trial_session: np.ndarray
    trial_run: np.ndarray
    betas: np.ndarray
    stim_id: np.ndarray
    n_trials: np.ndarray
    voxel_ijk: np.ndarray
    affine: np.ndarray
    shape: tuple[int, int, int]
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_voxels(self) -> int:
        return len(self.voxel_ijk)

    def volume(self, values: np.ndarray, dtype=np.float32) -> nib.Nifti1Image:
        """Per-voxel ``values`` (V) on the grid as a NIfTI image (0 outside the voxels)."""
        return voxel_volume(values, self.voxel_ijk, self.affine, self.shape, dtype=dtype)


def average_repeats(trial_betas: np.ndarray, trial_stim_id: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the trials of each stimulus: (stimuli × V, stim ids in sorted order, trials per stimulus)."""
    ids, inverse, counts = np.unique(np.asarray(trial_stim_id).astype(str), return_inverse=True, return_counts=True)
    sums = np.zeros((len(ids), trial_betas.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, trial_betas)
    return (sums / counts[:, None]).astype(np.float32), ids, counts


def assemble(trial_betas: np.ndarray, *, trial_stim_id: Sequence[str], trial_session: Sequence[int],
             trial_run: Sequence[int], voxel_ijk: np.ndarray, affine: np.ndarray, shape: Sequence[int],
             zscore: bool = True, n_repeats: int = 3, maps: Mapping[str, np.ndarray] | None = None,
             attrs: Mapping[str, Any] | None = None) -> Betas:
    """Z-score within sessions (unless already done), average repeats, and add ncsnr / noise ceiling.

    ``ncsnr`` uses the images with exactly ``n_repeats`` trials (NSD's rule) unless ``maps``
    already holds one (NSD mode ships its own); ``noiseceiling`` is for data that average each
    stimulus's trials, with the mixed-repeat formula over this data's actual trial counts.
    """
    z = np.array(trial_betas, dtype=np.float32)  # one float32 copy; z-scored in place, session by session
    if zscore:
        sessions = np.asarray(trial_session)
        for s in np.unique(sessions):
            rows = np.flatnonzero(sessions == s)
            z[rows] = np.nan_to_num(zscore_per_session(z[rows], np.zeros(len(rows))), nan=0.0)
    # (a voxel constant within a session carries no signal: its z-scores are 0)
    stim_betas, ids, counts = average_repeats(z, trial_stim_id)
    maps = dict(maps or {})
    if "ncsnr" not in maps:
        if np.any(counts == n_repeats):
            maps["ncsnr"] = ncsnr(z, trial_stim_id, n_repeats=n_repeats)
        elif np.any(counts >= 2):
            # no image with exactly n_repeats trials: pool the within-image variance of every repeated image
            # (unbiased, weighted by degrees of freedom), which equals NSD's estimate when all counts are equal
            log.warning("no image has exactly %d trials (counts: %s); ncsnr pools all images shown at least twice",
                        n_repeats, dict(zip(*np.unique(counts, return_counts=True), strict=True)))
            maps["ncsnr"] = pooled_ncsnr(z, trial_stim_id)
        else:
            log.warning("no image was shown more than once: ncsnr and the noise ceiling cannot be estimated (NaN)")
            maps["ncsnr"] = np.full(z.shape[1], np.nan)
    maps["noiseceiling"] = noise_ceiling(maps["ncsnr"], counts)
    return Betas(trial_betas=z, trial_stim_id=np.asarray(trial_stim_id).astype(str),
                 trial_session=np.asarray(trial_session, dtype=np.int32), trial_run=np.asarray(trial_run, dtype=np.int32),
                 betas=stim_betas, stim_id=ids, n_trials=counts.astype(np.int32),
                 voxel_ijk=np.asarray(voxel_ijk, dtype=np.int32), affine=np.asarray(affine, dtype=np.float64),
                 shape=tuple(int(s) for s in shape), maps={k: np.asarray(v, dtype=np.float32) for k, v in maps.items()},
                 attrs=dict(attrs or {}))


def write_betas(path: str | os.PathLike, b: Betas) -> None:
    datasets = {
        "trial_betas": b.trial_betas.astype(np.float32), "trial_stim_id": b.trial_stim_id,
        "trial_session": b.trial_session, "trial_run": b.trial_run,
        "betas": b.betas.astype(np.float32), "stim_id": b.stim_id, "n_trials": b.n_trials,
        "voxel_ijk": b.voxel_ijk, "affine": b.affine, "shape": np.asarray(b.shape, dtype=np.int32),
        **{f"maps/{k}": v for k, v in b.maps.items()},
    }
    attrs = {"units": "z-scored per voxel within each session", **{k: str(v) for k, v in b.attrs.items()}}
    write_h5(path, datasets, attrs, compress=("trial_betas", "betas"))


def read_betas(path: str | os.PathLike) -> Betas:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Betas file '{path}' does not exist; run the preprocess stage first.")
    with open_h5(path, made_by="preprocess") as f:
        missing = [k for k in ("trial_betas", "betas", "stim_id", "voxel_ijk", "affine", "shape") if k not in f]
        if missing:
            raise ValueError(f"'{path}' lacks {missing}; it is not a cortexplorer betas.h5 (rerun preprocess).")
        def s(name):
            return read_strings(f[name])
        return Betas(
            trial_betas=f["trial_betas"][()], trial_stim_id=s("trial_stim_id"), trial_session=f["trial_session"][()],
            trial_run=f["trial_run"][()], betas=f["betas"][()], stim_id=s("stim_id"), n_trials=f["n_trials"][()],
            voxel_ijk=f["voxel_ijk"][()], affine=f["affine"][()], shape=tuple(int(x) for x in f["shape"][()]),
            maps={k: f["maps"][k][()] for k in f.get("maps", {})}, attrs=dict(f.attrs))
