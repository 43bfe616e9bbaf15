"""Evaluation of BrainDiVE images (the ``braindive`` part of stage ``evaluate``).

For each region, four image sets of equal size k (= the number of kept guided images) are compared:
the kept guided images, the unguided samples of all seeds (mean and SD over every seed), and the
top-k natural stimuli ranked by the region's **measured** response (repeat-averaged betas) and
by its **predicted** response (encoder on the stimuli's features). For each set:

- the predicted region activation (encoder, mean over the region's voxels);
- the share of images a classifier assigns to the region's preferred category: in the demo the
  oracle's classifier (a different architecture and training run from every fitted model), else
  open_clip zero-shot classification with text prompts (BrainDiVE's 5-way CLIP evaluation; use a
  stronger CLIP than the encoder's backbone to limit circularity);
- in the demo, the **true** activation from the simulator's response model, and the effect
  ``(true kept − unguided mean) / unguided SD``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image

from cortexplorer.braindive.stage import region_mask, region_voxels
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.encoder.stage import align_features
from cortexplorer.features import read_features
from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.truth import match_voxels, truth_voxel_ijk
from cortexplorer.models import BackboneSpec, create_clip, load_backbone, open_clip_module
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import labelled_rows

log = logging.getLogger(__name__)

ZERO_SHOT_TEMPLATES = ("a photo of a {}.", "a picture of a {}.", "an image of a {}.")
# BrainDiVE's 5-way semantic classification; a region of another category (e.g. V1, 'low-level') has no share
SEMANTIC_CATEGORIES = ("face", "place", "body", "word", "food")
ZERO_SHOT_NAMES = {"face": "face", "place": "place", "body": "body", "word": "word", "food": "food"}


def read_png_folder(folder: str | os.PathLike, table: pd.DataFrame) -> np.ndarray:
    """The PNGs named in ``table['file']`` (rows with a file), uint8 N × H × W × 3."""
    files = [f for f in table["file"].fillna("").astype(str) if f]
    if not files:
        raise ValueError(f"No image of '{folder}' finished; rerun its rule.")
    return np.stack([np.asarray(Image.open(Path(folder) / f).convert("RGB")) for f in files])


class OracleLabels:
    """Category of each image by the demo oracle's classifier (argmax of its evidence)."""

    def __init__(self, oracle_path: str):
        from cortexplorer.oracle import load_oracle

        self.oracle = load_oracle(oracle_path)
        self.name = "oracle classifier"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        evidence = self.oracle.evidence(images)
        return np.asarray(self.oracle.categories)[evidence.argmax(1)]


class ZeroShotLabels:
    """open_clip zero-shot classification among ``categories`` (mean text embedding over templates)."""

    def __init__(self, model, tokenizer, preprocess: dict, categories: Sequence[str],
                 templates: Sequence[str] = ZERO_SHOT_TEMPLATES, name: str = "open_clip zero-shot"):
        from cortexplorer.models import Backbone

        self.categories = list(categories)
        self.name = name
        device = next(model.parameters()).device
        with torch.no_grad():
            rows = []
            for cat in self.categories:
                tokens = tokenizer([t.format(ZERO_SHOT_NAMES.get(cat, cat)) for t in templates]).to(device)
                emb = torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1).mean(0)
                rows.append(torch.nn.functional.normalize(emb, dim=0))
        self.text = torch.stack(rows)
        self.backbone = Backbone(model.visual, preprocess["image_size"], preprocess["mean"], preprocess["std"],
                                 {"embed_dim": model.visual.output_dim, "arch": name}).to(device).eval()

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Cosine of each image (rows) with each category's text embedding (columns)."""
        emb = torch.from_numpy(self.backbone.embed(images, progress=False)).to(self.text.device)
        return (emb @ self.text.T).cpu().numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.categories)[self.scores(images).argmax(1)]


def make_classifier(spec: dict | None, *, oracle: str | None, categories: Sequence[str], device: str):
    if spec is None:
        if oracle is None:
            raise ValueError("braindive.classifier is not set and there is no demo oracle: name an open_clip model "
                             "for zero-shot classification, e.g. {kind: open_clip, arch: ViT-L-14, pretrained: openai}.")
        return OracleLabels(oracle)
    bspec = BackboneSpec.from_config("classifier", spec)
    model, pre = create_clip(bspec, device=device, config_key="braindive.classifier")
    tokenizer = open_clip_module().get_tokenizer(bspec.arch)
    return ZeroShotLabels(model, tokenizer, pre, categories, name=f"{bspec.arch} ({bspec.pretrained}) zero-shot")


def evaluate_braindive(*, regions: Sequence[str], region_dirs: Sequence[str], unguided_dir: str, encoder_path: str,
                       rois_dir: str, backbone: str, backbone_spec: dict, features_h5: str, betas_h5: str,
                       stimuli_h5: str, stimuli_tsv: str, out_summary: str, out_images: str, out_figure: str,
                       out_grids: str, out_provenance: str, demo_clip: str | None = None, oracle: str | None = None,
                       truth_dir: str | None = None, classifier: dict | None = None, device: str = "auto",
                       seed: int = 0) -> pd.DataFrame:
    """Score every region's kept images against unguided samples and the top natural stimuli; write the tables
    and figures."""
    device = resolve_device(device)
    encoder = VoxelEncoder.load(encoder_path)
    net = load_backbone(BackboneSpec.from_config(backbone, backbone_spec), demo_weights=demo_clip, device=device)
    feats = read_features(features_h5)
    betas = read_betas(betas_h5)
    stim = read_image_set(stimuli_h5, stimuli_tsv)
    unguided_table = read_tsv(Path(unguided_dir) / "seeds.tsv", required=["seed", "file"])
    unguided = read_png_folder(Path(unguided_dir) / "images", unguided_table)
    categories = []
    masks = {}
    for region in regions:
        mask, category, path = region_mask(region, rois_dir, truth_dir)
        masks[region] = (mask, path)
        categories.append(category if category in SEMANTIC_CATEGORIES else "")
    label = make_classifier(classifier, oracle=oracle, categories=SEMANTIC_CATEGORIES, device=device)
    truth = oracle_model = None
    if truth_dir is not None:
        from cortexplorer.oracle import load_oracle
        from cortexplorer.simulate.response import TrueResponseModel

        truth = TrueResponseModel.load(Path(truth_dir) / "model.h5")
        oracle_model = load_oracle(oracle)
        truth_cols = match_voxels(truth_voxel_ijk(truth_dir), encoder.voxel_ijk.numpy())
        truth_unguided = truth.predict(unguided, oracle_model)
    unguided_labels = label(unguided)
    with torch.no_grad():  # every voxel's predicted response to the unguided images (the backbone runs once)
        predicted_unguided = encoder(torch.from_numpy(net.embed(unguided, progress=False))).numpy()
    # natural stimuli: measured (averaged betas) and predicted responses, on the betas' stimuli
    beta_cols = match_voxels(encoder.voxel_ijk.numpy(), betas.voxel_ijk)  # encoder voxel of each beta column
    stim_pos = {s: i for i, s in enumerate(stim.table["stim_id"].astype(str))}
    beta_stim = betas.stim_id.astype(str)
    rows = align_features(feats.stim_id, beta_stim, features_h5, betas_h5)
    predicted_nat = encoder(torch.from_numpy(feats.features[rows])).numpy()
    stim_images = stim.images[[stim_pos[s] for s in beta_stim]]
    stim_labels = label(stim_images)
    truth_nat = truth.predict(stim_images, oracle_model) if truth is not None else None
    summary, per_image, grid_rows = [], [], []
    for region, category, d in zip(regions, categories, region_dirs, strict=True):
        mask, path = masks[region]
        vox = region_voxels(encoder, mask, region=region, mask_path=path, encoder_path=encoder_path)
        scores = read_tsv(Path(d) / "scores.tsv", required=["seed", "file", "predicted", "rank", "kept"])
        kept_table = scores[scores["kept"].astype(bool)].sort_values("rank")
        kept = read_png_folder(Path(d) / "images", kept_table)
        k = len(kept)
        pred_unguided = predicted_unguided[:, vox].mean(1)
        measured = betas.betas[:, np.flatnonzero(np.isin(beta_cols, vox))].mean(1)
        pred_nat = predicted_nat[:, vox].mean(1)
        top_measured = np.argsort(-measured, kind="stable")[:k]
        top_predicted = np.argsort(-pred_nat, kind="stable")[:k]
        kept_labels = label(kept)
        sets = {"kept": (kept_table["predicted"].to_numpy(float), kept_labels),
                "unguided": (pred_unguided, unguided_labels),
                "top_measured": (pred_nat[top_measured], stim_labels[top_measured]),
                "top_predicted": (pred_nat[top_predicted], stim_labels[top_predicted])}
        row = {"region": region, "category": category or "n/a", "n_voxels": len(vox), "n_kept": k,
               "n_unguided": len(unguided)}
        true_sets = {}
        if truth is not None:
            cols = truth_cols[vox]
            cols = cols[cols >= 0]
            true_sets = {"kept": truth.predict(kept, oracle_model)[:, cols].mean(1),
                         "unguided": truth_unguided[:, cols].mean(1),
                         "top_measured": truth_nat[top_measured][:, cols].mean(1),
                         "top_predicted": truth_nat[top_predicted][:, cols].mean(1)}
        for name, (pred, labels) in sets.items():
            row[f"predicted_{name}"] = float(np.mean(pred))
            if category:
                row[f"share_{name}"] = float(np.mean(labels == category))
            if name in true_sets:
                row[f"true_{name}"] = float(np.mean(true_sets[name]))
        row["predicted_unguided_sd"] = float(np.std(sets["unguided"][0], ddof=1)) if len(unguided) > 1 else np.nan
        if truth is not None:
            sd = float(np.std(true_sets["unguided"], ddof=1))
            row["true_unguided_sd"] = sd
            row["true_effect_sd"] = (row["true_kept"] - row["true_unguided"]) / sd if sd > 0 else np.nan
        if category:
            row["share_ratio"] = row["share_kept"] / row["share_unguided"] if row["share_unguided"] > 0 else np.inf
        summary.append(row)
        for i, (seed_, pred) in enumerate(zip(kept_table["seed"], kept_table["predicted"], strict=True)):
            per_image.append({"region": region, "set": "kept", "id": f"seed-{int(seed_):05d}", "predicted": pred,
                              "label": kept_labels[i],
                              "true": float(true_sets["kept"][i]) if true_sets else np.nan})
        for name, idx in (("top_measured", top_measured), ("top_predicted", top_predicted)):
            for j in idx:
                per_image.append({"region": region, "set": name, "id": beta_stim[j], "predicted": float(pred_nat[j]),
                                  "measured": float(measured[j]), "label": stim_labels[j],
                                  "true": float(truth_nat[j, truth_cols[vox][truth_cols[vox] >= 0]].mean())
                                  if truth is not None else np.nan})
        grid_rows.append((f"{region} guided", kept))
        grid_rows.append((f"{region} top natural", stim_images[top_measured]))
        log.info("region %s: predicted kept %.3f vs unguided %.3f; %s", region, row["predicted_kept"],
                 row["predicted_unguided"], ", ".join(f"{k_} {v:.3f}" for k_, v in row.items()
                                                       if k_.startswith(("share_kept", "true_effect"))))
    table = pd.DataFrame(summary)
    write_tsv(table, out_summary)
    write_tsv(pd.DataFrame(per_image), out_images)
    grid_rows.insert(0, ("unguided", unguided[: max(len(r[1]) for r in grid_rows)]))
    with atomic_path(out_grids) as tmp:
        labelled_rows(grid_rows).save(tmp, format="png")
    with atomic_path(out_figure) as tmp:
        activation_figure(table).savefig(tmp, dpi=110, format="png")
    write_sidecar(out_provenance, stage="braindive_evaluate",
                  settings=dict(regions=list(regions), classifier=classifier or "oracle", backbone=backbone),
                  seed=seed, classifier=label.name, n_unguided=len(unguided))
    return table


def activation_figure(table: pd.DataFrame):
    """Per region: activation (true in the demo, else predicted) and preferred-category share of each image set."""
    kind = "true" if "true_kept" in table else "predicted"
    sets = [("kept", "guided, kept"), ("unguided", "unguided"), ("top_measured", "top natural (measured)"),
            ("top_predicted", "top natural (predicted)")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    x = np.arange(len(table))
    w = 0.2
    for i, (key, name) in enumerate(sets):
        axes[0].bar(x + (i - 1.5) * w, table[f"{kind}_{key}"], w, label=name)
    if f"{kind}_unguided_sd" in table:
        axes[0].errorbar(x - 0.5 * w, table[f"{kind}_unguided"], yerr=table[f"{kind}_unguided_sd"], fmt="none",
                         ecolor="k", capsize=2)
    axes[0].set(xticks=x, xticklabels=table["region"], ylabel=f"{kind} region activation (% signal)",
                title=f"{kind.capitalize()} activation (error bar: unguided SD)")
    axes[0].legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    has = table["category"] != "n/a"
    xs = np.arange(int(has.sum()))
    for i, (key, name) in enumerate(sets):
        if f"share_{key}" in table:
            axes[1].bar(xs + (i - 1.5) * w, table.loc[has, f"share_{key}"], w, label=name)
    axes[1].set(xticks=xs, xticklabels=[f"{r}\n({c})" for r, c in zip(table.loc[has, "region"],
                                                                     table.loc[has, "category"], strict=True)],
                ylabel="share of preferred category", ylim=(0, 1), title="Classified as the region's category")
    fig.tight_layout()
    return fig
