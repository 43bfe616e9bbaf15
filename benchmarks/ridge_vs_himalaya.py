"""Per-voxel ridge CV: cortexplorer versus himalaya RidgeCV and scikit-learn RidgeCV on the same data.

An NSD-sized encoding problem: 9,000 stimuli × 512 features × 15,000 voxels, 5 folds grouped by
stimulus, 10 alphas. Each solver runs in its own forked process so its peak memory is its own.
himalaya gets the same folds and alphas (same criterion: mean over folds of the validation MSE);
scikit-learn's RidgeCV(alpha_per_target=True) only does leave-one-out, so its agreement is with a
different criterion. Run with:  .venv/bin/python benchmarks/ridge_vs_himalaya.py [--voxels N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np

from cortexplorer.encoder import grouped_kfold, ridge_cv

ALPHAS = np.logspace(0, 5, 10)


def make_problem(n: int, d: int, v: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)).astype(np.float32)
    w = rng.normal(size=(d, v)).astype(np.float32) * rng.uniform(0, 0.2, v).astype(np.float32)
    y = x @ w + rng.normal(0, 1, (n, v)).astype(np.float32)
    return x, y


def _run(name, fn, queue):
    t0 = time.perf_counter()
    alpha, coef = fn()
    queue.put((name, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
               np.asarray(alpha), np.asarray(coef[:, :50])))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stimuli", type=int, default=9000)
    ap.add_argument("--features", type=int, default=512)
    ap.add_argument("--voxels", type=int, default=15000)
    ap.add_argument("--sklearn-voxels", type=int, default=2000, help="sklearn's LOO path on a subset (it is slow)")
    args = ap.parse_args()
    x, y = make_problem(args.stimuli, args.features, args.voxels)
    folds = grouped_kfold(np.arange(args.stimuli), 5, seed=0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    def ours():
        fit = ridge_cv(x, y, ALPHAS, folds)
        return fit.alpha, fit.coef

    def himalaya_fit():
        from himalaya.ridge import RidgeCV

        m = RidgeCV(alphas=ALPHAS, fit_intercept=True, cv=folds).fit(x, y)
        return m.best_alphas_, m.coef_

    def sklearn_fit():
        from sklearn.linear_model import RidgeCV

        m = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y[:, : args.sklearn_voxels])
        return m.alpha_, m.coef_.T

    ctx = mp.get_context("fork")
    results = {}
    for name, fn in (("cortexplorer", ours), ("himalaya", himalaya_fit), ("sklearn (LOO)", sklearn_fit)):
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(name, fn, q))
        p.start()
        results[name] = q.get()
        p.join()
    print(f"problem: {args.stimuli} stimuli × {args.features} features × {args.voxels} voxels, 5 grouped folds, "
          f"{len(ALPHAS)} alphas (data in memory before forking: {base:.2f} GiB)")
    ours_t = results["cortexplorer"][1] / args.voxels
    for name, secs, peak, alpha, coef in results.values():
        n = len(alpha)
        same = np.mean(np.isclose(alpha, results["cortexplorer"][3][:n], rtol=1e-6))
        rel = np.abs(coef - results["cortexplorer"][4]).max() / np.abs(results["cortexplorer"][4]).max()
        print(f"{name:14s} {secs:7.1f} s for {n} voxels  peak {peak:5.2f} GiB  time per voxel vs ours "
              f"{secs / n / ours_t:5.1f}×  same alpha as ours {100 * same:5.1f}%  max coef diff {rel:.1e} "
              "(first 50 voxels)")


if __name__ == "__main__":
    main()
