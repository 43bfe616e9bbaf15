"""Per-voxel ridge CV: cortexplorer versus himalaya RidgeCV and scikit-learn RidgeCV, each on its own criterion.

An NSD-sized encoding problem: 9,000 stimuli × 512 features × 15,000 voxels, 10 alphas.

* K-fold: ``ridge_cv(x, y, alphas, folds)`` against himalaya ``RidgeCV(cv=folds)`` with the same 5 folds grouped
  by stimulus and the same alphas (criterion: mean over folds of the validation MSE).
* Leave-one-out: ``ridge_cv(x, y, alphas, "loo")`` against scikit-learn ``RidgeCV(alpha_per_target=True)``
  (``cv=None``: efficient LOO, criterion: mean squared LOO residual), by default on all voxels
  (``--sklearn-voxels`` for a subset; scikit-learn casts the data to float64).

Each solver runs in its own forked process, one after the other, so its peak memory (``ru_maxrss``: it counts
the data inherited from the parent) and its time are its own; the time excludes importing the library.
``--threads N`` caps every solver's BLAS pools: on a 2-core machine shared with another job, 2-thread OpenBLAS
LAPACK calls (SVD, eigh) slow down 20-30× (spinning threads), which distorts the ratios. Agreement is over all
voxels the peer fitted: the share of voxels with the same α, and the largest coefficient difference relative to
the largest |coefficient|. Run with:
.venv/bin/python benchmarks/ridge_vs_himalaya.py [--voxels N] [--sklearn-voxels N] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import resource
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cortexplorer.encoder import grouped_kfold, ridge_cv

ALPHAS = np.logspace(0, 5, 10)


def make_problem(n: int, d: int, v: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)).astype(np.float32)
    w = rng.normal(size=(d, v)).astype(np.float32) * rng.uniform(0, 0.2, v).astype(np.float32)
    y = x @ w + rng.normal(0, 1, (n, v)).astype(np.float32)
    return x, y


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _rss_gib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1024**3


def _run(setup, threads, queue):
    with threadpool_limits(threads) if threads else contextlib.nullcontext():
        fit = setup()  # imports, outside the timing
        t0 = time.perf_counter()
        alpha, coef = fit()
        secs = time.perf_counter() - t0
    queue.put((secs, _peak_gib(), np.asarray(alpha, dtype=np.float64), np.asarray(coef, dtype=np.float32)))


def _in_own_process(setup, threads=0):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_run, args=(setup, threads, q))
    p.start()
    out = q.get()
    p.join()
    return out


def _compare(ours, theirs, ours_name: str, theirs_name: str, n_all: int) -> None:
    o_secs, o_peak, o_alpha, o_coef = ours
    t_secs, t_peak, t_alpha, t_coef = theirs
    n = len(t_alpha)
    same = np.mean(np.isclose(t_alpha, o_alpha[:n], rtol=1e-6))  # himalaya returns exp(log α)
    diff = np.abs(t_coef - o_coef[:, :n]).max() / np.abs(o_coef[:, :n]).max()
    ratio = (t_secs / n) / (o_secs / n_all)
    print(f"  {ours_name:34s} {o_secs:7.2f} s for {n_all} voxels  peak {o_peak:5.2f} GiB")
    print(f"  {theirs_name:34s} {t_secs:7.2f} s for {n} voxels  peak {t_peak:5.2f} GiB")
    print(
        f"  -> ours {ratio:.1f}× faster per voxel; same alpha for {100 * same:.2f}% of {n} voxels; "
        f"max coef diff {diff:.1e} of max |coef|"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stimuli", type=int, default=9000)
    ap.add_argument("--features", type=int, default=512)
    ap.add_argument("--voxels", type=int, default=15000)
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads per solver (default: the libraries' own)")
    ap.add_argument("--sklearn-voxels", type=int, default=None, help="scikit-learn on the first N voxels (default all)")
    args = ap.parse_args()
    n_sk = args.voxels if args.sklearn_voxels is None else min(args.sklearn_voxels, args.voxels)
    x, y = make_problem(args.stimuli, args.features, args.voxels)
    folds = grouped_kfold(np.arange(args.stimuli), 5, seed=0)
    base = _rss_gib()  # the data and the libraries, which every forked solver inherits

    def ours_kfold():
        def fit():
            f = ridge_cv(x, y, ALPHAS, folds)
            return f.alpha, f.coef

        return fit

    def ours_loo():
        def fit():
            f = ridge_cv(x, y, ALPHAS, "loo")
            return f.alpha, f.coef

        return fit

    def himalaya_kfold():
        from himalaya.ridge import RidgeCV

        def fit():
            m = RidgeCV(alphas=ALPHAS, fit_intercept=True, cv=folds).fit(x, y)
            return m.best_alphas_, m.coef_

        return fit

    def sklearn_loo():
        from sklearn.linear_model import RidgeCV

        def fit():
            m = RidgeCV(alphas=ALPHAS, fit_intercept=True, alpha_per_target=True).fit(x, y[:, :n_sk])
            return m.alpha_, m.coef_.T

        return fit

    res = {
        name: _in_own_process(setup, args.threads)
        for name, setup in (
            ("ours_kfold", ours_kfold),
            ("himalaya", himalaya_kfold),
            ("ours_loo", ours_loo),
            ("sklearn", sklearn_loo),
        )
    }
    print(
        f"problem: {args.stimuli} stimuli × {args.features} features × {args.voxels} voxels (float32), "
        f"{len(ALPHAS)} alphas; resident before forking (data, libraries): {base:.2f} GiB; BLAS threads per solver: "
        f"{args.threads or 'library default'}"
    )
    print("K-fold, 5 folds grouped by stimulus, same folds and alphas:")
    _compare(
        res["ours_kfold"], res["himalaya"], "cortexplorer ridge_cv(folds)", "himalaya RidgeCV(cv=folds)", args.voxels
    )
    print(f"leave-one-out{'' if n_sk == args.voxels else f' (scikit-learn on the first {n_sk} voxels)'}:")
    _compare(
        res["ours_loo"],
        res["sklearn"],
        "cortexplorer ridge_cv('loo')",
        "sklearn RidgeCV(alpha_per_target)",
        args.voxels,
    )
    same = np.mean(res["ours_loo"][2] == res["ours_kfold"][2])
    print(f"(our LOO and our 5-fold choose the same alpha for {100 * same:.1f}% of voxels: different criteria)")


if __name__ == "__main__":
    main()
