"""Evaluation of BrainDiVE images (the ``braindive`` part of stage ``evaluate``).

For each region, four image sets of equal size k (= the number of kept guided images) are compared:
the kept guided images, the unguided samples of all seeds (mean and SD over every seed), and the
top-k natural stimuli ranked by the region's **measured** response (repeat-averaged betas) and
by its **predicted** response (encoder on the stimuli's features). For each set:

- the predicted region activation (encoder, mean over the region's voxels);
- the share of images a classifier assigns to the region's preferred category: in the demo the
  oracle's classifier (a different architecture and training run from every fitted model), else
  open_clip zero-shot classification with text prompts (BrainDiVE's 5-way CLIP evaluation; use a
  stronger CLIP than the encoder's backbone to limit circularity); in the demo also by a second,
  independent judge, the demo CNN (``share_<set>_cnn``), so that no number stands on one classifier;
- in the demo, the **true** activation from the simulator's response model, and the effect
  ``(true kept − unguided mean) / unguided SD``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image

from cortexplorer.braindive.judge import DemoJudge, UnguidedBaseline, category_share, true_effect
from cortexplorer.braindive.settings import EvaluationSettings
from cortexplorer.braindive.stage import region_mask, region_voxels, write_image
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.encoder.stage import align_features
from cortexplorer.features import Features, read_features
from cortexplorer.io.figures import write_figure
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.truth import DemoTruth, match_voxels
from cortexplorer.models import BackboneSpec, create_clip, load_backbone, open_clip_module
from cortexplorer.preprocess.contract import Betas, read_betas
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


@dataclass
class EvaluationData:
    """Everything the evaluation reads: the encoder and its backbone, the natural stimuli with their betas, each
    region's mask, the classifier, the demo's judge and the unguided samples (judged once)."""

    encoder: VoxelEncoder
    net: torch.nn.Module
    feats: Features
    betas: Betas
    stim: ImageSet
    masks: dict[str, tuple]  # region -> (mask, path)
    categories: list[str]  # preferred category of each region among SEMANTIC_CATEGORIES, else ""
    label: Callable[[np.ndarray], np.ndarray]
    truth: DemoJudge | None
    unguided: UnguidedBaseline
    # the demo's second judge (the demo CNN) beside ``label``, and its labels of the unguided samples; None
    # outside the demo
    second_label: Callable[[np.ndarray], np.ndarray] | None = None
    unguided_second: np.ndarray | None = None


def load_evaluation(inputs: dict, settings: EvaluationSettings) -> EvaluationData:
    device = resolve_device(settings.device)
    encoder = VoxelEncoder.load(inputs["encoder"])
    net = load_backbone(BackboneSpec.from_config(settings.backbone, settings.backbone_spec),
                        demo_weights=inputs.get("demo_clip"), device=device)
    feats = read_features(inputs["features"])
    betas = read_betas(inputs["betas"])
    stim = read_image_set(inputs["images"], inputs["stimuli"])
    unguided = read_png_folder(inputs["unguided_images"], read_tsv(inputs["unguided"], required=["seed", "file"]))
    truth_folder = DemoTruth(inputs["truth"]) if inputs.get("truth") else None
    masks, categories = {}, []
    for region in settings.regions:
        mask, category, path = region_mask(region, inputs["rois"], truth_folder)
        masks[region] = (mask, path)
        categories.append(category if category in SEMANTIC_CATEGORIES else "")
    label = make_classifier(settings.classifier, oracle=inputs.get("oracle"), categories=SEMANTIC_CATEGORIES,
                            device=device)
    truth = DemoJudge(truth_folder, inputs["oracle"], encoder.voxel_ijk.numpy()) if truth_folder else None
    second = None
    if inputs.get("demo_cnn"):
        from cortexplorer.models.prior_quality import demo_cnn_labeller

        second = demo_cnn_labeller(inputs["demo_cnn"], stim.images.shape[1], device)  # trained on the world's size
    return EvaluationData(encoder, net, feats, betas, stim, masks, categories, label, truth,
                          UnguidedBaseline.judge(unguided, label, truth), second,
                          second(unguided) if second is not None else None)


@dataclass
class NaturalStimuli:
    """The betas' stimuli (in the betas' order) with every encoder voxel's predicted response, the classifier's
    labels and, in the demo, the true responses."""

    ids: np.ndarray
    images: np.ndarray
    predicted: np.ndarray  # stimuli × encoder voxels
    labels: np.ndarray
    true: np.ndarray | None
    beta_cols: np.ndarray  # encoder voxel of each beta column
    second_labels: np.ndarray | None = None  # the demo CNN's labels (demo only)


def natural_stimuli(data: EvaluationData, features_h5: str, betas_h5: str) -> NaturalStimuli:
    """Measured (averaged betas) and predicted responses, on the betas' stimuli."""
    beta_cols = match_voxels(data.encoder.voxel_ijk.numpy(), data.betas.voxel_ijk)
    stim_pos = {s: i for i, s in enumerate(data.stim.table["stim_id"].astype(str))}
    beta_stim = data.betas.stim_id.astype(str)
    rows = align_features(data.feats.stim_id, beta_stim, features_h5, betas_h5)
    predicted = data.encoder(torch.from_numpy(data.feats.features[rows])).numpy()
    images = data.stim.images[[stim_pos[s] for s in beta_stim]]
    labels = data.label(images)
    true = data.truth.responses(images) if data.truth is not None else None
    second = data.second_label(images) if data.second_label is not None else None
    return NaturalStimuli(beta_stim, images, predicted, labels, true, beta_cols, second)


@dataclass
class RegionEvaluation:
    row: dict  # the region's summary row
    images: list[dict]  # one row per image of the kept and top natural sets
    grid: list[tuple[str, np.ndarray]]  # labelled rows of the grid figure


def evaluate_region(region: str, category: str, kept_table: pd.DataFrame, kept: np.ndarray, data: EvaluationData,
                    natural: NaturalStimuli, predicted_unguided: np.ndarray, encoder_path: str) -> RegionEvaluation:
    """The region's four image sets (kept, unguided, top natural by measured and by predicted response), judged."""
    mask, path = data.masks[region]
    vox = region_voxels(data.encoder, mask, region=region, mask_path=path, encoder_path=encoder_path)
    k = len(kept)
    measured = data.betas.betas[:, np.flatnonzero(np.isin(natural.beta_cols, vox))].mean(1)
    pred_nat = natural.predicted[:, vox].mean(1)
    top_measured = np.argsort(-measured, kind="stable")[:k]
    top_predicted = np.argsort(-pred_nat, kind="stable")[:k]
    kept_labels = data.label(kept)
    base = data.unguided
    sets = {"kept": (kept_table["predicted"].to_numpy(float), kept_labels),
            "unguided": (predicted_unguided[:, vox].mean(1), base.labels),
            "top_measured": (pred_nat[top_measured], natural.labels[top_measured]),
            "top_predicted": (pred_nat[top_predicted], natural.labels[top_predicted])}
    true_sets, true_nat = {}, None
    if data.truth is not None:
        true_nat = data.truth.region_activation(natural.true, vox)
        true_sets = {"kept": data.truth.region_activation(data.truth.responses(kept), vox),
                     "unguided": data.truth.region_activation(base.true, vox),
                     "top_measured": true_nat[top_measured], "top_predicted": true_nat[top_predicted]}
    row = _summary_row(region, category, len(vox), k, sets, true_sets)
    if data.second_label is not None and category:  # the same shares by the second judge
        second = {"kept": data.second_label(kept), "unguided": data.unguided_second,
                  "top_measured": natural.second_labels[top_measured],
                  "top_predicted": natural.second_labels[top_predicted]}
        row.update({f"share_{name}_cnn": category_share(labels, category) for name, labels in second.items()})
    images = [{"region": region, "set": "kept", "id": f"seed-{int(seed_):05d}", "predicted": pred,
               "label": kept_labels[i], "true": float(true_sets["kept"][i]) if true_sets else np.nan}
              for i, (seed_, pred) in enumerate(zip(kept_table["seed"], kept_table["predicted"], strict=True))]
    for name, idx in (("top_measured", top_measured), ("top_predicted", top_predicted)):
        images += [{"region": region, "set": name, "id": natural.ids[j], "predicted": float(pred_nat[j]),
                    "measured": float(measured[j]), "label": natural.labels[j],
                    "true": float(true_nat[j]) if true_nat is not None else np.nan} for j in idx]
    log.info("region %s: predicted kept %.3f vs unguided %.3f; %s", region, row["predicted_kept"],
             row["predicted_unguided"], ", ".join(f"{k_} {v:.3f}" for k_, v in row.items()
                                                   if k_.startswith(("share_kept", "true_effect"))))
    return RegionEvaluation(row, images, [(f"{region} guided", kept),
                                          (f"{region} top natural", natural.images[top_measured])])


def _summary_row(region: str, category: str, n_voxels: int, k: int, sets: dict, true_sets: dict) -> dict:
    """Mean predicted (and true) activation and category share of each set; the true effect over unguided."""
    n_unguided = len(sets["unguided"][0])
    row = {"region": region, "category": category or "n/a", "n_voxels": n_voxels, "n_kept": k,
           "n_unguided": n_unguided}
    for name, (pred, labels) in sets.items():
        row[f"predicted_{name}"] = float(np.mean(pred))
        if category:
            row[f"share_{name}"] = category_share(labels, category)
        if name in true_sets:
            row[f"true_{name}"] = float(np.mean(true_sets[name]))
    row["predicted_unguided_sd"] = float(np.std(sets["unguided"][0], ddof=1)) if n_unguided > 1 else np.nan
    if true_sets:
        row.update(true_effect(row["true_kept"], true_sets["unguided"]))
    if category:
        row["share_ratio"] = row["share_kept"] / row["share_unguided"] if row["share_unguided"] > 0 else np.inf
    return row


def read_kept(scores_tsv: str, images_dir: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A region's kept images (by rank) and their rows of ``scores.tsv``."""
    scores = read_tsv(scores_tsv, required=["seed", "file", "predicted", "rank", "kept"])
    kept_table = scores[scores["kept"].astype(bool)].sort_values("rank")
    return kept_table, read_png_folder(images_dir, kept_table)


def evaluate_braindive(*, inputs: dict, outputs: dict, settings: EvaluationSettings) -> pd.DataFrame:
    """Score every region's kept images against unguided samples and the top natural stimuli; write the tables
    and figures."""
    data = load_evaluation(inputs, settings)
    unguided = data.unguided.images
    with torch.no_grad():  # every voxel's predicted response to the unguided images (the backbone runs once)
        predicted_unguided = data.encoder(torch.from_numpy(data.net.embed(unguided, progress=False))).numpy()
    natural = natural_stimuli(data, inputs["features"], inputs["betas"])
    results = [evaluate_region(region, category, *read_kept(scores, images), data, natural, predicted_unguided,
                               inputs["encoder"])
               for region, category, scores, images in zip(settings.regions, data.categories, inputs["scores"],
                                                           inputs["region_images"], strict=True)]
    table = pd.DataFrame([r.row for r in results])
    write_tsv(table, outputs["summary"])
    write_tsv(pd.DataFrame([im for r in results for im in r.images]), outputs["images"])
    grid_rows = [g for r in results for g in r.grid]
    grid_rows.insert(0, ("unguided", unguided[: max(len(r[1]) for r in grid_rows)]))
    write_image(labelled_rows(grid_rows), outputs["grids"])
    write_figure(activation_figure(table), outputs["figure"], dpi=110)
    write_sidecar(outputs["provenance"], stage="braindive_evaluate",
                  settings=dict(regions=list(settings.regions), classifier=settings.classifier or "oracle",
                                backbone=settings.backbone),
                  seed=settings.seed, classifier=data.label.name, n_unguided=len(unguided))
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
