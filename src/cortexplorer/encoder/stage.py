"""Stage ``encoder``: a per-voxel ridge encoder from image features to betas, scored on held-out images.

The stimuli whose ``split`` (stimuli.tsv) equals the configured test split are held out (NSD:
the shared1000 images); the regularisation of every voxel is chosen by K-fold cross-validation
on the rest, with folds grouped by stimulus so repeats of an image never sit on both sides. The
test score compares predictions with the repeat-averaged test betas: Pearson r, R², and
R² / noise ceiling with the noise ceiling of the test images' actual repeat counts.
"""

from __future__ import annotations

import logging
import os

import matplotlib
import numpy as np
import pandas as pd

from cortexplorer.encoder.model import VoxelEncoder, held_out_scores
from cortexplorer.encoder.ridge import grouped_kfold, ridge_cv
from cortexplorer.features import read_features
from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.nifti import save_image
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.truth import truth_on_voxels
from cortexplorer.models import BackboneSpec
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.preprocess.noise_ceiling import noise_ceiling
from cortexplorer.provenance import write_sidecar
from cortexplorer.rois.contract import read_roi_set
from cortexplorer.stats import column_corr

matplotlib.use("Agg")
log = logging.getLogger(__name__)


def align_features(feature_ids: np.ndarray, stim_ids: np.ndarray, features_path: str, betas_path: str) -> np.ndarray:
    """Row of the feature file for each stimulus of the betas; every stimulus must have features."""
    pos = {s: i for i, s in enumerate(np.asarray(feature_ids).astype(str))}
    missing = [s for s in np.asarray(stim_ids).astype(str) if s not in pos]
    if missing:
        raise ValueError(f"{len(missing)} of the {len(stim_ids)} stimuli in '{betas_path}' have no features in "
                         f"'{features_path}' (e.g. {missing[:3]}): the two come from different stimulus sets. "
                         "Rerun the features stage on the stimuli the betas were estimated for.")
    return np.array([pos[s] for s in np.asarray(stim_ids).astype(str)])


def localizer_regions(ijk: np.ndarray, rois_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Region name → indices of the voxels at ``ijk`` inside each mask of the rois stage."""
    table, images = read_roi_set(rois_dir)
    out = {}
    for roi in table["roi"]:
        mask = np.asarray(images[roi].dataobj) > 0
        out[roi] = np.flatnonzero(mask[ijk[:, 0], ijk[:, 1], ijk[:, 2]])
    return out


def fit_encoder(*, betas_h5: str, features_h5: str, stimuli_tsv: str, out_model: str, out_metrics: str,
                out_regions: str, out_maps: dict[str, str], out_qc: str, out_provenance: str, backbone: str,
                backbone_spec: dict | None = None, target: str = "averaged", test_split: str = "test", n_folds: int = 5,
                alphas: dict | None = None, seed: int = 0, rois_dir: str | None = None,
                truth_dir: str | None = None) -> pd.DataFrame:
    """Fit, score and write the encoder of one subject on one backbone's features; return the region table."""
    grid = alphas or {}
    alpha_grid = np.logspace(grid.get("log10_min", -2), grid.get("log10_max", 4), grid.get("n", 13))
    betas = read_betas(betas_h5)
    expect = None
    if backbone_spec is not None:  # the weights' hash is checked where the weights are loaded
        spec = BackboneSpec.from_config(backbone, backbone_spec)
        expect = {"kind": spec.kind, "arch": spec.arch, "pretrained": spec.pretrained or ""}
    feats = read_features(features_h5, expect, expected_from=f"features.backbones.{backbone}")
    table = read_tsv(stimuli_tsv, required=["stim_id", "split"])
    split = dict(zip(table["stim_id"].astype(str), table["split"].astype(str), strict=True))
    unknown = [s for s in betas.stim_id if s not in split]
    if unknown:
        raise ValueError(f"{len(unknown)} stimuli of '{betas_h5}' are not in '{stimuli_tsv}' (e.g. {unknown[:3]}); "
                         "the betas and the stimulus table come from different datasets.")
    rows = align_features(feats.stim_id, betas.stim_id, features_h5, betas_h5)
    x_stim = feats.features[rows]
    is_test = np.array([split[s] == test_split for s in betas.stim_id])
    if not is_test.any():
        raise ValueError(f"No stimulus of '{betas_h5}' has split '{test_split}' in '{stimuli_tsv}'; set "
                         f"encoder.test_split to a value of its split column ({sorted(set(split.values()))}).")
    if is_test.all():
        raise ValueError(f"Every stimulus of '{betas_h5}' is in the test split '{test_split}'; nothing to train on.")
    train_ids = betas.stim_id[~is_test]
    if target == "trials":
        stim_row = {s: i for i, s in enumerate(betas.stim_id)}
        trial_rows = np.array([stim_row[s] for s in betas.trial_stim_id])
        keep = ~is_test[trial_rows]
        x_train, y_train, groups = x_stim[trial_rows[keep]], betas.trial_betas[keep], betas.trial_stim_id[keep]
    else:
        x_train, y_train, groups = x_stim[~is_test], betas.betas[~is_test], train_ids
    log.info("encoder %s: %d training rows (%s) of %d stimuli, %d test stimuli, %d features, %d voxels, "
             "%d folds × %d alphas", backbone, len(x_train), target, len(train_ids), int(is_test.sum()),
             x_stim.shape[1], betas.n_voxels, n_folds, len(alpha_grid))
    folds = grouped_kfold(groups, n_folds, seed=seed)
    fit = ridge_cv(x_train, y_train, alpha_grid, folds)
    low, high = int((fit.alpha == alpha_grid[0]).sum()), int((fit.alpha == alpha_grid[-1]).sum())
    log.info("alpha at the lowest grid value for %d voxels, at the highest for %d (there: mostly voxels without "
             "signal)", low, high)
    if low > 0.05 * betas.n_voxels:
        log.warning("%d voxels (%.0f%%) chose the smallest alpha of the grid (%g): the best may lie below it; "
                    "lower encoder.alphas.log10_min", low, 100 * low / betas.n_voxels, alpha_grid[0])
    predicted = fit.predict(x_stim[is_test])
    measured = betas.betas[is_test]
    test_counts = betas.n_trials[is_test]
    nc = noise_ceiling(betas.maps["ncsnr"], test_counts) if "ncsnr" in betas.maps else None
    scores = held_out_scores(predicted, measured, nc)
    metrics = pd.DataFrame({"voxel": np.arange(betas.n_voxels), "i": betas.voxel_ijk[:, 0],
                            "j": betas.voxel_ijk[:, 1], "k": betas.voxel_ijk[:, 2], "alpha": fit.alpha,
                            "r": scores["r"], "r2": scores["r2"]})
    if nc is not None:
        metrics["noise_ceiling"] = nc
        metrics["r2_noise_normalised"] = scores["r2_noise_normalised"]
    regions: dict[str, tuple[str, np.ndarray]] = {}
    metrics["region"] = "n/a"
    if rois_dir is not None:
        for name, idx in localizer_regions(betas.voxel_ijk, rois_dir).items():
            regions[name] = ("localizer", idx)
            metrics.loc[idx, "region"] = name
    if truth_dir is not None:
        truth = truth_on_voxels(truth_dir, betas.stim_id[is_test], betas.voxel_ijk)
        metrics["r_truth"] = column_corr(predicted, truth.responses)
        metrics["region_planted"] = truth.region
        regions.update({name: ("planted", np.flatnonzero(truth.region == name)) for name in truth.regions})
    region_table = _region_table(metrics, regions)
    write_tsv(metrics, out_metrics)
    write_tsv(region_table, out_regions)
    for name, path in out_maps.items():
        save_image(betas.volume(metrics[name].to_numpy(dtype=np.float32)), path)
    enc = VoxelEncoder.from_fit(fit, betas.voxel_ijk, identity=feats.identity, affine=betas.affine, shape=betas.shape)
    enc.save(out_model)
    with atomic_path(out_qc) as tmp:
        _qc_figure(fit, metrics, region_table, alpha_grid).savefig(tmp, dpi=110, format="png")
    write_sidecar(out_provenance, stage="encoder",
                  settings=dict(backbone=backbone, target=target, test_split=test_split, n_folds=n_folds,
                                alphas=alpha_grid.tolist()),
                  seed=seed, features_identity=feats.identity, n_train_rows=len(x_train),
                  n_test_stimuli=int(is_test.sum()), n_voxels=betas.n_voxels)
    return region_table


def _region_table(metrics: pd.DataFrame, regions: dict[str, tuple[str, np.ndarray]]) -> pd.DataFrame:
    cols = [c for c in ("r", "r2", "noise_ceiling", "r2_noise_normalised", "r_truth") if c in metrics]
    rows = []
    for name, (source, idx) in regions.items():
        row = {"region": name, "source": source, "n_voxels": len(idx)}
        for c in cols:
            row[f"median_{c}"] = float(np.nanmedian(metrics[c].to_numpy()[idx])) if len(idx) else np.nan
        rows.append(row)
    rows.append({"region": "all voxels", "source": "", "n_voxels": len(metrics),
                 **{f"median_{c}": float(np.nanmedian(metrics[c])) for c in cols}})
    return pd.DataFrame(rows)


def _qc_figure(fit, metrics: pd.DataFrame, region_table: pd.DataFrame, alpha_grid: np.ndarray):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    counts = [(fit.alpha == a).sum() for a in alpha_grid]
    ax.bar(np.arange(len(alpha_grid)), counts, color="#4c72b0")
    ax.set_xticks(np.arange(len(alpha_grid)), [f"{a:.0e}" for a in alpha_grid], rotation=60, fontsize=7)
    ax.set(xlabel="ridge alpha (grid)", ylabel="voxels", title="chosen regularisation per voxel")
    ax = axes[1]
    if "noise_ceiling" in metrics:
        ax.scatter(metrics["noise_ceiling"], 100 * np.clip(metrics["r"], 0, None) ** 2, s=3, alpha=0.3, color="#555")
        lim = max(1.0, float(np.nanmax(metrics["noise_ceiling"])))
        ax.plot([0, lim], [0, lim], color="#c44e52", lw=1, label="r² = noise ceiling")
        ax.set(xlabel="noise ceiling (% variance)", ylabel="test r² (%)", title="accuracy against the ceiling")
        ax.legend(loc="upper left", fontsize=8)
    ax = axes[2]
    col = "median_r2_noise_normalised" if "median_r2_noise_normalised" in region_table else "median_r2"
    tab = region_table[region_table["source"] != ""]
    colours = ["#dd8452" if s == "planted" else "#4c72b0" for s in tab["source"]]
    ax.barh(np.arange(len(tab)), tab[col], color=colours)
    ax.set_yticks(np.arange(len(tab)), [f"{r} ({s})" for r, s in zip(tab["region"], tab["source"], strict=True)],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel=col.replace("median_", "median ").replace("_", " "), title="per region (test images)")
    fig.tight_layout()
    return fig
