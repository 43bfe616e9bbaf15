"""QC figures of the preprocess stage: design matrix, recipe diagnostics, R² / ncsnr maps."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cortexplorer.io.figures import write_figure
from cortexplorer.preprocess.contract import Betas
from cortexplorer.preprocess.hrf import DT, canonical_hrf, hrf_time, trial_regressors
from cortexplorer.preprocess.recipe import RecipeResult, RunData


def _save(fig: plt.Figure, path: Path) -> None:
    write_figure(fig, path, dpi=110, bbox_inches="tight")


def design_figure(run: RunData) -> plt.Figure:
    """The first run's model: one canonical-HRF column per trial, then drift and confounds."""
    x = trial_regressors(canonical_hrf(hrf_time())[None], run.onsets, run.durations, run.data.shape[0], run.tr,
                         run.start_time)[0]
    nuis = run.nuisance
    scaled = np.column_stack([x, (nuis - nuis.min(0)) / np.maximum(np.ptp(nuis, axis=0), 1e-12)])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.imshow(scaled, aspect="auto", cmap="gray_r", interpolation="nearest")
    ax.axvline(x.shape[1] - 0.5, color="tab:red", lw=1)
    ax.set_xlabel(f"columns: {x.shape[1]} trials | {nuis.shape[1]} drift + confounds")
    ax.set_ylabel("volume")
    ax.set_title(f"Design matrix, session {run.session} run {run.run} (TR {run.tr} s)")
    return fig


def recipe_figure(result: RecipeResult, steps: pd.DataFrame) -> plt.Figure:
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    t = np.arange(result.hrfs.shape[1]) * DT
    colours = plt.cm.viridis(np.linspace(0, 1, len(result.hrfs)))
    for h, c in zip(result.hrfs, colours, strict=True):
        axes[0].plot(t, h / h.max(), color=c, lw=1)
    axes[0].set(xlim=(0, 25), xlabel="time (s)", title="HRF library (colour = index)")
    inset = axes[0].inset_axes([0.55, 0.5, 0.42, 0.45])
    inset.bar(np.arange(len(result.hrfs)), np.bincount(result.hrf_index[result.pc_voxels], minlength=len(result.hrfs)),
              color=colours)
    inset.set_title("chosen, responsive voxels", fontsize=7)
    inset.tick_params(labelsize=6)
    axes[1].plot(np.arange(len(result.xval_pcs)), result.xval_pcs - result.xval_pcs[0], "o-")
    axes[1].axvline(result.pcnum, color="tab:red", ls="--", label=f"chosen: {result.pcnum}")
    axes[1].set(xlabel="noise components", ylabel="cross-validated gain", title="GLMdenoise")
    axes[1].legend(fontsize=8)
    axes[2].hist(result.frac[result.pc_voxels], bins=np.linspace(0, 1.05, 22), color="tab:purple")
    axes[2].set(xlabel="ridge fraction", ylabel="responsive voxels", title="Fractional ridge")
    last_set = steps["voxels"].iloc[-1]
    sub = steps[steps["voxels"] == last_set]
    x = np.arange(len(sub))
    axes[3].bar(x - 0.2, sub["repeat_reliability"], 0.4, label="repeat reliability")
    if "truth_r" in sub:
        axes[3].bar(x + 0.2, sub["truth_r"], 0.4, label="r with truth")
    axes[3].set_xticks(x, sub["step"].str.replace("_", "\n"), fontsize=7)
    axes[3].set(title=f"Each step ({last_set} voxels, median)")
    axes[3].legend(fontsize=8)
    fig.tight_layout()
    return fig


def maps_figure(betas: Betas, background: str | None) -> plt.Figure:
    from nilearn import datasets, plotting

    bg = datasets.load_mni152_template(resolution=2) if background == "MNI" else None
    fig = plt.figure(figsize=(12, 6))
    for i, (name, title) in enumerate((("onoff_r2", "On-off R² (%): variance explained by one all-trials regressor"),
                                       ("ncsnr", "ncsnr (noise-ceiling SNR)"))):
        ax = fig.add_subplot(2, 1, i + 1)
        values = np.nan_to_num(betas.maps[name])
        vmax = float(np.percentile(values, 99.5)) or 1.0
        plotting.plot_stat_map(betas.volume(values), bg_img=bg, display_mode="z", cut_coords=6, axes=ax,
                               title=title, vmax=vmax, cmap="inferno", symmetric_cbar=False, threshold=1e-6,
                               black_bg=False, draw_cross=False)
    return fig


def draw_qc(out_dir: str | os.PathLike, run: RunData, result: RecipeResult, betas: Betas, steps: pd.DataFrame,
            background: str | None = "MNI") -> None:
    out = Path(out_dir)
    _save(design_figure(run), out / "design.png")
    _save(recipe_figure(result, steps), out / "recipe.png")
    _save(maps_figure(betas, background), out / "maps.png")
