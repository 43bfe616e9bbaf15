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

from cortexplorer.preprocess.recipe import RecipeSettings, fit_recipe
from cortexplorer.preprocess.synthetic import N_RUNS, N_VOL, nsd_like_session
from cortexplorer.stats import column_corr

# The recipe as measured in benchmarks/README.md (the config schema's defaults for preprocess.recipe), spelled out
# so that the measurement does not move with the schema.
SETTINGS = RecipeSettings(
    estimator="lsa", hrf="library", n_hrfs=20, hrf_selection="onoff", noise_pcs=10, pcstop=1.05, fracridge=True,
    fracs=tuple(float(f) for f in np.round(np.linspace(1.0, 0.05, 20), 4)), noise_pool_r2=None,
    brain_threshold=0.1, seed=0,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voxels", type=int, default=20_000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    planted = nsd_like_session(args.voxels, seed=0)
    runs, truth, responsive = planted.runs, planted.truth, planted.responsive
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    t0 = time.perf_counter()
    result = fit_recipe(runs, SETTINGS)
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
        r = column_corr(betas[:, responsive], truth[:, responsive])
        print(f"  {name:24s} median r with true single-trial betas (responsive voxels): {np.median(r):.3f}")


if __name__ == "__main__":
    main()
