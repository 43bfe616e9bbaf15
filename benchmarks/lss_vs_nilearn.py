"""Closed-form LSS (cortexplorer) versus nilearn's per-trial refit loop, same data, same process.

An NSD-session-shaped problem: 12 runs, 750 trials (62-63 per run, 3 s on every 4 s), TR 1.6 s,
20,000 voxels. nilearn's recipe (examples/07_advanced/plot_beta_series.py) refits a whole
FirstLevelModel per trial; we time it on a few trials of one run and scale to 750 trials.
Prints a ratio; run with:  .venv/bin/python benchmarks/lss_vs_nilearn.py
"""

from __future__ import annotations

import time
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import FirstLevelModel, compute_regressor

from cortexplorer.preprocess import lss_betas

N_RUNS, N_TRIALS, TR, N_VOX, SHAPE = 12, 750, 1.6, 20_000, (50, 40, 10)
N_NILEARN_TRIALS = 4


def make_run(rng, n_trials):
    n_vol = int(np.ceil((6 + 4 * n_trials + 14) / TR))
    frame_times = np.arange(n_vol) * TR
    events = pd.DataFrame({"onset": 6 + 4.0 * np.arange(n_trials), "duration": 3.0, "trial_type": "image"})
    trials = np.column_stack([compute_regressor(np.array([[o], [3.0], [1.0]]), "spm", frame_times)[0][:, 0]
                              for o in events["onset"]])
    motion = rng.normal(size=(n_vol, 6)).cumsum(0) * 0.02
    betas = rng.normal(1, 0.5, (n_trials, N_VOX)).astype(np.float32)
    data = (trials @ betas + rng.normal(0, 1, (n_vol, N_VOX))).astype(np.float32) + 100
    return events, trials, motion, data, frame_times


def cosine_drift(frame_times, high_pass=0.01):
    n = len(frame_times)
    order = int(np.floor(2 * n * (frame_times[1] - frame_times[0]) * high_pass))
    t = np.arange(n)
    return np.column_stack([np.ones(n)] + [np.sqrt(2 / n) * np.cos(np.pi * (2 * t + 1) * k / (2 * n))
                                           for k in range(1, order + 1)])


def main() -> None:
    rng = np.random.default_rng(0)
    runs = [make_run(rng, len(chunk)) for chunk in np.array_split(np.arange(N_TRIALS), N_RUNS)]

    t0 = time.perf_counter()
    ours = [lss_betas(trials, data, np.column_stack([cosine_drift(ft), motion]))
            for _, trials, motion, data, ft in runs]
    t_ours = time.perf_counter() - t0

    events, _, motion, data, ft = runs[0]
    img = nib.Nifti1Image(data.T.reshape(*SHAPE, -1), np.eye(4))
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), np.eye(4))
    confounds = pd.DataFrame(motion, columns=[f"m{i}" for i in range(6)])
    t0 = time.perf_counter()
    theirs = []
    for j in range(N_NILEARN_TRIALS):
        ev = events.copy()
        ev["trial_type"] = np.where(np.arange(len(ev)) == j, "target", "other")
        glm = FirstLevelModel(t_r=TR, hrf_model="spm", drift_model="cosine", high_pass=0.01, noise_model="ols",
                              signal_scaling=False, mask_img=mask, minimize_memory=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            glm.fit(img, events=ev, confounds=confounds)
            theirs.append(np.asarray(glm.compute_contrast("target", output_type="effect_size").dataobj).reshape(-1))
    per_trial_nilearn = (time.perf_counter() - t0) / N_NILEARN_TRIALS

    diff = max(np.abs(ours[0][j] - theirs[j]).max() / np.abs(theirs[j]).max() for j in range(N_NILEARN_TRIALS))
    print(f"problem: {N_RUNS} runs, {N_TRIALS} trials, {N_VOX} voxels, {len(ft)} volumes per run")
    print(f"cortexplorer closed-form LSS, all {N_TRIALS} trials: {t_ours:.2f} s")
    print(f"nilearn per-trial refit: {per_trial_nilearn:.2f} s per trial (mean of {N_NILEARN_TRIALS}) "
          f"-> {per_trial_nilearn * N_TRIALS:.0f} s for {N_TRIALS} trials")
    print(f"ratio (nilearn / ours): {per_trial_nilearn * N_TRIALS / t_ours:.0f}x")
    print(f"largest difference from nilearn on the compared trials (relative to the largest beta): {diff:.2e}")


if __name__ == "__main__":
    main()
