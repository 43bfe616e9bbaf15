"""Import NSD's single-trial betas (``betas_fithrf_GLMdenoise_RR``, func1pt8mm) into the preprocess contract.

Each ``betas_sessionNN.nii.gz`` is int16 X×Y×Z×750 holding percent signal change × 300. We keep
the voxels inside ``nsdgeneral.nii.gz`` (> 0; the file uses -1 outside the brain, 0 unlabelled),
read one session at a time (a session is ~1 GB of int16 at 1.8 mm; the whole volume must be
decompressed because the file is gzip), map every trial to its image with ``nsd_expdesign.mat``
and hand the trials to :func:`cortexplorer.preprocess.contract.assemble`, which z-scores each voxel
within each session and averages the repeats. The noise ceiling uses NSD's released ``ncsnr.nii.gz``
with the mixed-repeat formula over the trials actually imported.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from cortexplorer.io.nifti import save_image
from cortexplorer.nsd.stimuli import load_expdesign, nsd_stim_ids
from cortexplorer.preprocess.contract import assemble, write_betas
from cortexplorer.provenance import write_sidecar

log = logging.getLogger(__name__)

TRIALS_PER_SESSION = 750
PSC_SCALE = 300.0  # int16 value = percent signal change × 300
# Runs within a session: NSD has 12 runs per session with 62 or 63 stimulus trials each. We use
# odd runs = 63 trials, even runs = 62 (6 × 63 + 6 × 62 = 750). This split is RECALLED from the
# NSD paper/manual, not verified against the data; only ``trial_run`` depends on it (z-scoring is
# per session, not per run).
RUN_TRIALS = (63, 62) * 6
_GRID_ATOL = 1e-3  # mm; affines closer than this count as the same grid


def run_of_trial(n_trials: int = TRIALS_PER_SESSION) -> np.ndarray:
    """1-based run number of each trial in a session (see ``RUN_TRIALS``)."""
    runs = np.repeat(np.arange(1, len(RUN_TRIALS) + 1), RUN_TRIALS)
    if n_trials != len(runs):
        raise ValueError(f"NSD sessions have {len(runs)} trials; got {n_trials}.")
    return runs.astype(np.int32)


def _load(path: str | os.PathLike, what: str) -> nib.Nifti1Image:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NSD {what} file '{path}' does not exist; fetch it (rule fetch_nsd) or fix "
                                "config key 'nsd.root'.")
    return nib.load(path)


def _same_grid(img: nib.Nifti1Image, shape: Sequence[int], affine: np.ndarray) -> bool:
    return tuple(img.shape[:3]) == tuple(shape) and np.allclose(img.affine, affine, atol=_GRID_ATOL)


def _grid_error(path, img: nib.Nifti1Image, shape, affine, mask_path) -> ValueError:
    return ValueError(
        f"'{path}' is on a different grid from the mask '{mask_path}': shape {tuple(img.shape[:3])} vs "
        f"{tuple(shape)}, affine\n{np.round(img.affine, 3)}\nvs\n{np.round(affine, 3)}. Use the func1pt8mm "
        "files of the same subject for betas, ncsnr and nsdgeneral.")


def load_mask(mask_nii: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The boolean in-mask grid (``nsdgeneral`` > 0) and its affine; an empty mask is an error."""
    img = _load(mask_nii, "mask")
    data = np.asanyarray(img.dataobj)
    if data.ndim != 3:
        raise ValueError(f"Mask '{mask_nii}' has shape {data.shape}; expected a 3-D volume such as nsdgeneral.nii.gz.")
    mask = data > 0
    if not mask.any():
        values = np.unique(data)
        raise ValueError(f"Mask '{mask_nii}' has no voxel > 0 (values: {values[:10].tolist()}); NSD ROI files use "
                         "-1 outside the brain, 0 unlabelled and >= 1 inside. Pass nsdgeneral.nii.gz of the subject.")
    return mask, img.affine


def check_betas_header(path: str | os.PathLike, shape: Sequence[int], affine: np.ndarray,
                       mask_path: str | os.PathLike = "the mask") -> nib.Nifti1Image:
    """Check a session file without reading its data: 4-D, 750 trials, int16, the mask's grid."""
    img = _load(path, "betas")
    if len(img.shape) != 4 or img.shape[3] != TRIALS_PER_SESSION:
        raise ValueError(f"Betas file '{path}' has shape {tuple(img.shape)}; an NSD session holds "
                         f"X×Y×Z×{TRIALS_PER_SESSION} trials. Is it truncated, or not a betas_sessionNN.nii.gz? "
                         "Delete it and fetch it again.")
    if not _same_grid(img, shape, affine):
        raise _grid_error(path, img, shape, affine, mask_path)
    if img.get_data_dtype() != np.int16:
        raise ValueError(f"Betas file '{path}' stores {img.get_data_dtype()}, not int16; the ÷{PSC_SCALE:g} scaling "
                         "applies to NSD's int16 volume betas (betas_fithrf_GLMdenoise_RR/func1pt8mm).")
    return img


def read_nsd_session(path: str | os.PathLike, mask: np.ndarray, affine: np.ndarray,
                     mask_path: str | os.PathLike = "the mask") -> np.ndarray:
    """One session's betas at the mask's voxels, trials × V float32 in percent signal change."""
    img = check_betas_header(path, mask.shape, affine, mask_path)
    data = np.asanyarray(img.dataobj)  # the whole int16 volume (gzip must be decompressed in full)
    selected = data[mask]  # V × 750, voxels in C order like np.argwhere(mask)
    del data
    return (selected.T.astype(np.float32) / np.float32(PSC_SCALE))


def nsd_trial_stim_ids(expdesign_mat: str | os.PathLike, subject: int, sessions: Sequence[int]) -> np.ndarray:
    """``nsdNNNNN`` stim id of every trial of ``sessions`` (in the given order, 750 per session).

    Trial t (0-based) of session s is trial ``(s-1)*750 + t`` of ``masterordering`` (1-based index
    into the subject's row of ``subjectim``, whose entries are 1-based 73k ids); the stim id is the
    0-based 73k id, as in :mod:`cortexplorer.nsd.stimuli`.
    """
    path = Path(expdesign_mat)
    order, subjectim = load_expdesign(path, "masterordering", "subjectim")
    order = order.ravel()
    if subjectim.ndim != 2 or not 1 <= subject <= subjectim.shape[0]:
        raise ValueError(f"'subjectim' in '{path}' has shape {subjectim.shape}; it has no row for subject {subject} "
                         "(NSD has subjects 1-8).")
    covered = len(order) // TRIALS_PER_SESSION
    bad = [s for s in sessions if not 1 <= s <= covered]
    if bad:
        raise ValueError(f"Sessions {bad} are beyond what 'masterordering' in '{path}' covers ({len(order)} trials = "
                         f"{covered} sessions of {TRIALS_PER_SESSION}); fix config key 'nsd.sessions'.")
    trials = np.concatenate([np.arange((s - 1) * TRIALS_PER_SESSION, s * TRIALS_PER_SESSION) for s in sessions])
    index = order[trials]
    row = subjectim[subject - 1]
    if index.min() < 1 or index.max() > len(row):
        raise ValueError(f"'masterordering' in '{path}' points outside the {len(row)} images of 'subjectim' "
                         f"(range {index.min()}..{index.max()}, 1-based); the file is inconsistent.")
    nsd_ids = row[index - 1]
    if nsd_ids.min() < 1:
        raise ValueError(f"'subjectim' row {subject} in '{path}' has ids < 1 for trials of sessions {list(sessions)}; "
                         "its ids are 1-based.")
    return nsd_stim_ids(nsd_ids - 1)


def import_nsd_betas(
    *,
    subject: int,
    sessions: Sequence[int],
    betas_files: Sequence[str | os.PathLike],
    expdesign_mat: str | os.PathLike,
    ncsnr_nii: str | os.PathLike,
    mask_nii: str | os.PathLike,
    out_h5: str | os.PathLike,
    out_ncsnr: str | os.PathLike,
    out_noiseceiling: str | os.PathLike,
    out_provenance: str | os.PathLike,
) -> None:
    """Read NSD sessions (one at a time) inside ``nsdgeneral`` and write ``betas.h5`` plus ncsnr/NC maps.

    ``betas_files[i]`` is session ``sessions[i]``. Every input is checked before the long read.
    """
    sessions = [int(s) for s in sessions]
    betas_files = [Path(p) for p in betas_files]
    if len(betas_files) != len(sessions):
        raise ValueError(f"Got {len(betas_files)} betas files for {len(sessions)} sessions {sessions}; pass one "
                         "betas_sessionNN.nii.gz per session, in the same order.")
    if not sessions:
        raise ValueError("No NSD sessions to import; config key 'nsd.sessions' is empty.")
    if len(set(sessions)) != len(sessions):
        raise ValueError(f"Sessions {sessions} repeat a session; list each once.")

    mask, affine = load_mask(mask_nii)
    shape = mask.shape
    voxel_ijk = np.argwhere(mask).astype(np.int32)
    n_vox = len(voxel_ijk)
    trial_stim_id = nsd_trial_stim_ids(expdesign_mat, subject, sessions)
    ncsnr_img = _load(ncsnr_nii, "ncsnr")
    if not _same_grid(ncsnr_img, shape, affine):
        raise _grid_error(ncsnr_nii, ncsnr_img, shape, affine, mask_nii)
    if any(d != 1 for d in ncsnr_img.shape[3:]):
        raise ValueError(f"ncsnr file '{ncsnr_nii}' has shape {ncsnr_img.shape}; expected one 3-D map (ncsnr.nii.gz).")
    ncsnr = np.asarray(ncsnr_img.get_fdata(dtype=np.float32)).reshape(shape)[mask]
    for path in betas_files:  # fail before hours of reading, not after
        check_betas_header(path, shape, affine, mask_nii)

    n = TRIALS_PER_SESSION
    log.info("NSD subject %d: %d sessions, %d voxels in '%s'", subject, len(sessions), n_vox, Path(mask_nii).name)
    trial_betas = np.empty((len(sessions) * n, n_vox), dtype=np.float32)
    start = time.monotonic()
    for i, (session, path) in enumerate(zip(sessions, betas_files, strict=True)):
        t0 = time.monotonic()
        trial_betas[i * n : (i + 1) * n] = read_nsd_session(path, mask, affine, mask_nii)
        log.info("session %d (%d/%d, %s): %d trials × %d voxels in %.0f s (%.0f s total)", session, i + 1,
                 len(sessions), path.name, n, n_vox, time.monotonic() - t0, time.monotonic() - start)
    trial_session = np.repeat(np.asarray(sessions, dtype=np.int32), n)
    trial_run = np.tile(run_of_trial(n), len(sessions))

    b = assemble(trial_betas, trial_stim_id=trial_stim_id, trial_session=trial_session, trial_run=trial_run,
                 voxel_ijk=voxel_ijk, affine=affine, shape=shape, zscore=True, maps={"ncsnr": ncsnr},
                 attrs={"source": "NSD betas_fithrf_GLMdenoise_RR func1pt8mm (percent signal change, int16/300)",
                        "step": "preprocess/nsd", "subject": subject, "sessions": ",".join(map(str, sessions)),
                        "mask": Path(mask_nii).name, "ncsnr": f"NSD released {Path(ncsnr_nii).name}"})
    del trial_betas
    write_betas(out_h5, b)
    save_image(b.volume(b.maps["ncsnr"]), out_ncsnr)
    save_image(b.volume(b.maps["noiseceiling"]), out_noiseceiling)
    counts = np.bincount(b.n_trials, minlength=4)
    log.info("NSD subject %d: %d trials, %d images (%d with 3 trials, %d with 2, %d with 1), median NC %.1f %%",
             subject, len(b.trial_stim_id), len(b.stim_id), counts[3], counts[2], counts[1],
             float(np.nanmedian(b.maps["noiseceiling"])))
    write_sidecar(out_provenance, stage="preprocess/nsd",
                  settings={"subject": subject, "sessions": sessions, "beta_version": "betas_fithrf_GLMdenoise_RR",
                            "space": "func1pt8mm", "mask": Path(mask_nii).name, "zscore": "per voxel per session",
                            "ncsnr": "NSD released", "runs": "odd 63 / even 62 trials (recalled)"},
                  seed=None, n_trials=len(b.trial_stim_id), n_images=len(b.stim_id), n_voxels=n_vox,
                  inputs=[str(p) for p in (*betas_files, expdesign_mat, ncsnr_nii, mask_nii)])
