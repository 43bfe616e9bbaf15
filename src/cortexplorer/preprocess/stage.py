"""Stage ``preprocess`` for BOLD input (demo and bids modes): BIDS runs → the betas contract.

Writes (one subject, paths from ``cortexplorer.layout.Layout.preprocess``): ``betas.h5``, ``ncsnr.nii.gz``, ``noiseceiling.nii.gz``,
``r2.nii.gz``, ``hrf_index.nii.gz``, ``frac.nii.gz``, ``steps.tsv`` (each recipe step's
reliability, and in the demo its correlation with the true responses), ``qc/*.png`` and
``provenance.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cortexplorer.io.nifti import save_image
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.truth import DemoTruth
from cortexplorer.preprocess import bids_input as bi
from cortexplorer.preprocess.contract import Betas, assemble, write_betas
from cortexplorer.preprocess.recipe import RecipeResult, RunData, fit_recipe
from cortexplorer.preprocess.settings import PreprocessSettings
from cortexplorer.provenance import write_sidecar
from cortexplorer.stats import column_corr

log = logging.getLogger(__name__)


def _session_numbers(runs: Sequence[bi.BoldRun]) -> dict[str | None, int]:
    """Session label -> 1, 2, ... in natural order (ses-2 before ses-10)."""
    labels = sorted({r.session or "" for r in runs}, key=bi.natural_key)
    return {(lab or None): i + 1 for i, lab in enumerate(labels)}


LATE_TRIAL_PEAK = 0.5


def drop_late_trials(events: pd.DataFrame, run: bi.BoldRun, n_volumes: int) -> pd.DataFrame:
    """Leave out (with a warning) trials whose response the run ends too early to see: within the run, their
    canonical regressor never reaches half of its own peak (the peak it reaches in a run that goes on).
    Their betas would be estimated from a few volumes of the rising edge and reach absurd sizes (GLMsingle
    warns about trials < 8 s before the end). Relative to each trial's own peak, so that a short trial
    (whose regressor peaks lower than a long one's) is judged by when it happens, not by its duration."""
    if events.empty:
        return events
    from cortexplorer.preprocess.hrf import canonical_hrf, hrf_time, trial_regressors

    hrf = canonical_hrf(hrf_time())[None]
    durations = events["duration"].to_numpy(float)
    longer = n_volumes + int(np.ceil((hrf_time()[-1] + durations.max()) / run.tr)) + 1  # every response ends
    x = trial_regressors(hrf, events["onset"].to_numpy(float), durations, longer, run.tr, run.start_time)[0]
    late = x[:n_volumes].max(axis=0) < LATE_TRIAL_PEAK * x.max(axis=0)
    if late.any():
        log.warning("%s: %d trial(s) too close to the end of the run to be estimated (onsets %s s; the run ends at "
                    "%.1f s) are left out", run.events.name, int(late.sum()),
                    np.round(events.loc[late, "onset"].to_numpy(float), 2).tolist(), n_volumes * run.tr)
    return events[~late].reset_index(drop=True)


def nuisance_matrix(run: bi.BoldRun, n_volumes: int, confounds: Mapping) -> np.ndarray:
    """Drift (with the constant) and the strategy's confound columns, T × k."""
    if confounds["drift"] == "polynomial":
        degree = confounds.get("polynomial_degree")
        degree = bi.auto_polynomial_degree(n_volumes, run.tr) if degree is None else int(degree)
        drift = bi.polynomial_drift(n_volumes, degree)
    else:
        drift = np.ones((n_volumes, 1))
    table = bi.load_confounds(run, n_volumes, confounds)
    cols = table.to_numpy(dtype=np.float64)
    return np.column_stack([drift, cols - cols.mean(0)]) if cols.shape[1] else drift


def load_bold_runs(bids_dir: str | os.PathLike, *, subject: str, task: str, space: str | None,
                   confounds: Mapping, known_stim_ids: set[str] | None,
                   res: str | None = None, sessions: Sequence[str] = (),
                   bids_index: str | None = None) -> tuple[list[RunData], dict]:
    """Every run of ``task`` as ``RunData`` on the voxels that are valid in all runs.

    Voxels outside the brain mask, or NaN, non-positive or constant in any run, are left out and
    counted (GLMsingle's advice: only voxels with full data in every run). A volume that is all NaN
    or zero inside the mask, or no voxel left at all, is an error naming the file(s).
    """
    runs = bi.find_runs(bids_dir, subject=subject, task=task, space=space, res=res, sessions=sessions,
                        index_dir=bids_index)
    sessions = _session_numbers(runs)
    first = bi.load_bold(runs[0])
    mask = bi.load_mask([r.mask for r in runs], first)
    raw, kept = [], []
    for r in runs:
        img = bi.load_bold(r)
        bi.check_same_grid(img, r.bold, "BOLD", first, runs[0].bold, "first run",
                           "All runs must be in the same space and resolution (preprocess.space, preprocess.res).")
        n_vol = img.shape[3]
        events = bi.load_events(r, n_vol, known_stim_ids)
        events = drop_late_trials(events, r, n_vol)
        if events.empty:
            log.warning("%s: no trials with an image; the run is left out", r.label)
            continue
        data = bi.image_data(img, r.bold)[mask].T.astype(np.float32)  # T × V
        with np.errstate(invalid="ignore"):
            blank = np.flatnonzero(~(np.isfinite(data) & (data != 0)).any(axis=1))
        if blank.size:
            raise bi.BidsInputError(
                f"'{r.bold}': volume(s) {blank[:10].tolist()} (counting from 0, of {n_vol}) are all NaN or zero inside "
                "the brain mask. fMRIPrep does not write such volumes: the file was damaged after it; copy it again "
                "from fMRIPrep's output (or re-run fMRIPrep for this run).")
        raw.append(data)
        kept.append((r, events, nuisance_matrix(r, n_vol, confounds)))
    if not kept:
        raise bi.BidsInputError(f"No run of task '{task}' for sub-{subject} has any trial with a stim_id.")
    valid = np.ones(raw[0].shape[1], bool)
    invalid_per_run = {}
    for d, (r, _, _) in zip(raw, kept, strict=True):
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(d).all(0) & (d.min(0) > 0) & (d.std(0) > 0)
        invalid_per_run[r.bold.name] = int((~ok).sum())
        valid &= ok
    n_bad = int((~valid).sum())
    if not valid.any():
        raise bi.BidsInputError(
            f"No voxel is left: each of the {valid.size} brain voxels is NaN, non-positive or constant in at least "
            f"one run (such voxels per run: {invalid_per_run}). The BOLD files must be fMRIPrep's desc-preproc "
            "time series in scanner units (positive, varying); copy the runs with most such voxels again, or "
            "leave them out.")
    if n_bad:
        log.warning("%d of %d brain voxels are NaN, non-positive or constant in at least one run; left out",
                    n_bad, valid.size)
    ijk = np.argwhere(mask)[valid]
    out: list[RunData] = []
    means = []
    for d, (r, ev, nuis) in zip(raw, kept, strict=True):
        d = d[:, valid]
        mu = d.mean(0)
        means.append(mu)
        out.append(RunData(data=(100.0 * (d / mu - 1.0)).astype(np.float32), onsets=ev["onset"].to_numpy(float),
                           durations=ev["duration"].to_numpy(float), conditions=ev["stim_id"].to_numpy(str),
                           nuisance=nuis, session=sessions[r.session], run=r.run if r.run is not None else len(out) + 1,
                           tr=r.tr, start_time=r.start_time, label=r.label))
        log.info("%s: %d volumes, %d trials, %d nuisance columns", r.label, d.shape[0], len(ev), nuis.shape[1])
    info = {"voxel_ijk": ijk, "affine": first.affine, "shape": first.shape[:3], "mean_intensity": np.mean(means, 0),
            "n_excluded_voxels": n_bad, "runs": [k[0] for k in kept]}
    return out, info


def repeat_reliability(betas: np.ndarray, stim_id: np.ndarray) -> np.ndarray:
    """Per voxel: Pearson r across images between two presentations of the same image, averaged over
    the pairs of presentations (images shown at least twice)."""
    _ids, inverse, counts = np.unique(stim_id, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])
    max_rep = int(counts.max())
    rs = []
    for a in range(max_rep):
        for b in range(a + 1, max_rep):
            ok = counts > b
            if ok.sum() < 3:
                continue
            xa = betas[order[first_row[ok] + a]]
            xb = betas[order[first_row[ok] + b]]
            rs.append(column_corr(xa, xb))
    if not rs:
        return np.full(betas.shape[1], np.nan)
    return np.mean(rs, axis=0)


def compare_steps(result: RecipeResult, *, stim_id: np.ndarray, sessions: np.ndarray, voxel_sets: Mapping[str, np.ndarray],
                  truth: np.ndarray | None = None) -> pd.DataFrame:
    """Each step's median repeat reliability (and correlation with the truth) over each voxel set.

    ``truth`` = true responses to the sorted unique stim ids on the same voxels (stimuli × V, NaN
    where unknown)."""
    from cortexplorer.preprocess.contract import average_repeats
    from cortexplorer.preprocess.noise_ceiling import zscore_per_session

    rows = []
    for name, betas in result.steps.items():
        z = np.nan_to_num(zscore_per_session(betas, sessions)).astype(np.float32)
        rel = repeat_reliability(z, stim_id)
        avg, _, _ = average_repeats(z, stim_id)
        for set_name, vox in voxel_sets.items():
            row = {"step": name, "voxels": set_name, "n_voxels": len(vox),
                   "repeat_reliability": float(np.nanmedian(rel[vox])) if len(vox) else np.nan}
            if truth is not None:
                row["truth_r"] = float(np.nanmedian(column_corr(avg[:, vox], truth[:, vox]))) if len(vox) else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class PreprocessResult:
    recipe: RecipeResult
    betas: Betas
    steps: pd.DataFrame  # each step's reliability (and correlation with the truth) per voxel set
    trial_stim_id: np.ndarray
    first_run: RunData  # drawn in the QC design figure


def single_trial_responses(runs: Sequence[RunData], info: Mapping[str, Any], settings: PreprocessSettings,
                           truth: DemoTruth | None) -> PreprocessResult:
    """Fit the recipe, assemble the betas contract and compare the recipe's steps."""
    result = fit_recipe(runs, settings.recipe, info["mean_intensity"])
    stim_id = np.concatenate([r.conditions for r in runs])
    sessions = np.concatenate([np.full(len(r.onsets), r.session) for r in runs])
    run_no = np.concatenate([np.full(len(r.onsets), r.run) for r in runs])
    maps = {"r2": result.r2, "onoff_r2": result.onoff_r2, "hrf_index": result.hrf_index, "frac": result.frac,
            "noise_pool": result.noise_pool.astype(np.float32)}
    betas = assemble(result.final, trial_stim_id=stim_id, trial_session=sessions, trial_run=run_no,
                     voxel_ijk=info["voxel_ijk"], affine=info["affine"], shape=info["shape"],
                     n_repeats=settings.n_repeats, maps=maps,
                     attrs={"source": f"BOLD (task-{settings.task}), cortexplorer GLMsingle-style recipe",
                            "step": list(result.steps)[-1], "pcnum": result.pcnum})
    voxel_sets = {"responsive": np.flatnonzero(result.pc_voxels)}
    true_responses = None
    if truth is not None:
        planted = truth.on_voxels(betas.stim_id, betas.voxel_ijk)
        true_responses = planted.responses
        voxel_sets["planted regions"] = np.flatnonzero(planted.region != "n/a")
    steps = compare_steps(result, stim_id=stim_id, sessions=sessions, voxel_sets=voxel_sets, truth=true_responses)
    for row in steps.itertuples():
        log.info("step %-26s %-16s reliability %.3f%s", row.step, row.voxels, row.repeat_reliability,
                 f", r with truth {row.truth_r:.3f}" if truth is not None else "")
    return PreprocessResult(result, betas, steps, stim_id, runs[0])


MAP_DTYPES = {"ncsnr": np.float32, "noiseceiling": np.float32, "r2": np.float32, "hrf_index": np.int16,
              "frac": np.float32}


def write_preprocess(res: PreprocessResult, info: Mapping[str, Any], outputs: Mapping[str, str],
                     settings: PreprocessSettings) -> None:
    from cortexplorer.preprocess.qc import draw_qc

    betas = res.betas
    write_betas(outputs["betas"], betas)
    for name, dtype in MAP_DTYPES.items():
        save_image(betas.volume(betas.maps[name], dtype=dtype), outputs[name])
    write_tsv(res.steps, outputs["steps"])
    draw_qc(outputs["qc"], res.first_run, res.recipe, betas, res.steps,
            background="MNI" if (settings.space or "").startswith("MNI") else None)
    recipe = {k: v for k, v in dataclasses.asdict(settings.recipe).items() if k != "seed"}
    write_sidecar(outputs["provenance"], stage="preprocess",
                  settings={"subject": settings.subject, "task": settings.task, "space": settings.space,
                            "res": settings.res, "sessions": list(settings.sessions),
                            "confounds": dict(settings.confounds), "recipe": recipe,
                            "n_repeats": settings.n_repeats},
                  seed=settings.seed, n_trials=len(res.trial_stim_id), n_stimuli=len(betas.stim_id),
                  n_voxels=betas.n_voxels, n_excluded_voxels=info["n_excluded_voxels"], pcnum=res.recipe.pcnum,
                  runs=[str(r.bold) for r in info["runs"]], timings_s=res.recipe.timings)


def preprocess_bold(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: PreprocessSettings) -> None:
    """Single-trial betas of one subject's ``task`` runs, the contract files, QC and the step comparison.

    ``inputs``: ``bids`` (the BIDS root), ``stimuli`` (stimuli.tsv), ``truth`` (demo only);
    ``outputs``: the fields of :class:`cortexplorer.layout.PreprocessPaths`.
    """
    stimuli = read_tsv(inputs["stimuli"], required=["stim_id"])
    runs, info = load_bold_runs(inputs["bids"], subject=settings.subject, task=settings.task, space=settings.space,
                                res=settings.res, sessions=settings.sessions, bids_index=settings.bids_index,
                                confounds=settings.confounds,
                                known_stim_ids=set(stimuli["stim_id"].astype(str)))
    truth = DemoTruth(inputs["truth"]) if inputs.get("truth") else None
    result = single_trial_responses(runs, info, settings, truth)
    write_preprocess(result, info, outputs, settings)
