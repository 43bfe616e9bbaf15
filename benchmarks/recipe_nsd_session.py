"""The whole single-trial recipe (library HRF + noise components + fractional ridge) on an
NSD-session-shaped problem: 12 runs × 226 volumes at TR 1.333 s, 750 trials (62–63 per run, 3 s
images every 4 s with blank slots), 20,000 voxels. Reports wall time per step, peak memory, and,
because the truth is planted, each step's correlation with the true betas.

For scale (reference/fmri_encoding.md §1.3): GLMsingle's own example 1 needed 13 min 05 s on one
27k-voxel slice of this shape. Run with:  .venv/bin/python benchmarks/recipe_nsd_session.py
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np

from cortexplorer.preprocess.hrf import hrf_library, hrf_time, trial_regressors
from cortexplorer.preprocess.recipe import RecipeSettings, RunData, fit_recipe

N_RUNS, N_TRIALS, N_VOL, TR, N_IMAGES = 12, 750, 226, 4 / 3, 250


def make_session(n_vox: int, rng: np.random.Generator) -> tuple[list[RunData], np.ndarray, np.ndarray]:
    """Runs of synthetic BOLD (% signal change) and the true per-trial betas (trials × V)."""
    lib = hrf_library(hrf_time())
    hrf_of_voxel = rng.integers(0, len(lib), n_vox)
    responsive = rng.random(n_vox) < 0.3
    image_resp = rng.normal(1.0, 1.0, (N_IMAGES, n_vox)) * (rng.uniform(0.5, 2.0, n_vox) * responsive)
    order = rng.permutation(np.repeat(np.arange(N_IMAGES), 3))
    physio_load = rng.normal(0, 0.7, (5, n_vox))
    runs, truth = [], []
    for r, chunk in enumerate(np.array_split(order, N_RUNS)):
        slots = np.sort(rng.choice(int(N_VOL * TR // 4) - 4, len(chunk), replace=False))
        onsets = 4.0 + 4.0 * slots
        x = trial_regressors(lib, onsets, np.full(len(chunk), 3.0), N_VOL, TR, TR / 2)
        amp = image_resp[chunk]
        data = np.zeros((N_VOL, n_vox), np.float32)
        for h in range(len(lib)):
            sel = hrf_of_voxel == h
            data[:, sel] = x[h] @ amp[:, sel]
        ar = np.zeros((N_VOL, n_vox), np.float32)
        eps = rng.standard_normal((N_VOL, n_vox), dtype=np.float32) * 2.0
        for t in range(N_VOL):
            ar[t] = 0.4 * ar[t - 1] + eps[t] if t else eps[t]
        physio = rng.standard_normal((N_VOL, 5)) @ physio_load
        drift = np.linspace(-1, 1, N_VOL)[:, None] * rng.normal(0, 1, n_vox)
        runs.append(RunData(data=(data + ar + physio + drift).astype(np.float32), onsets=onsets,
                            durations=np.full(len(chunk), 3.0), conditions=np.array([f"img{i}" for i in chunk]),
                            nuisance=np.polynomial.legendre.legvander(np.linspace(-1, 1, N_VOL), 2),
                            session=1, run=r + 1, tr=TR, start_time=TR / 2))
        truth.append(amp)
    return runs, np.vstack(truth), responsive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxels", type=int, default=20_000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = np.random.default_rng(0)
    runs, truth, responsive = make_session(args.voxels, rng)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    t0 = time.perf_counter()
    result = fit_recipe(runs, RecipeSettings())
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"problem: {N_RUNS} runs × {N_VOL} volumes, {sum(len(r.onsets) for r in runs)} trials, {args.voxels} voxels")
    print(f"whole recipe: {wall:.1f} s, peak memory {peak:.2f} GiB (data alone {rss_before:.2f} GiB)")
    for step, secs in result.timings.items():
        print(f"  {step:32s} {secs:6.1f} s")
    one_fit = result.timings["assumehrf (canonical HRF)"]
    print(f"whole recipe = {wall / one_fit:.0f} canonical single-trial fits of the session ({one_fit:.2f} s each); "
          "GLMsingle's example 1 took 785 s = 56 of its own 14-s fits")
    print(f"noise components chosen: {result.pcnum}; median ridge fraction {np.median(result.frac[responsive]):.2f}")
    for name, betas in result.steps.items():
        b, t = betas[:, responsive], truth[:, responsive]
        b = b - b.mean(0)
        t = t - t.mean(0)
        r = (b * t).sum(0) / np.sqrt((b**2).sum(0) * (t**2).sum(0))
        print(f"  {name:24s} median r with true single-trial betas (responsive voxels): {np.median(r):.3f}")


if __name__ == "__main__":
    main()
