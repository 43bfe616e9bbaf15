"""Stage ``brainscuba``: project every voxel's encoder weights onto natural-image embeddings, caption
them, read what the captions say per region, and generate images from each region's typical captions.

Rules: ``brainscuba_bank`` (demo: raw embeddings of the disjoint image pool, never the fMRI
stimuli), ``brainscuba_project``, ``brainscuba_captions``, ``brainscuba_semantics`` and
``brainscuba_images`` (with its evaluation against the unguided samples of BrainDiVE). Each entry
point takes the rule's named ``inputs`` and ``outputs`` and its settings object
(:mod:`cortexplorer.brainscuba.settings`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import torch

from cortexplorer.braindive.evaluate import SEMANTIC_CATEGORIES, make_classifier, read_png_folder
from cortexplorer.braindive.guidance import RegionScore, TextScore
from cortexplorer.braindive.judge import DemoJudge, UnguidedBaseline, category_share, true_effect
from cortexplorer.braindive.stage import (
    check_finished,
    region_mask,
    region_voxels,
    sample_in_batches,
    score_images,
    write_image,
)
from cortexplorer.brainscuba.projection import disjoint_bank_samples, iter_bank_chunks, project_voxels, shard_shape
from cortexplorer.brainscuba.semantics import (
    NO_NOUN,
    annotate,
    example_captions,
    read_lexicon,
    region_shares,
    top_nouns,
)
from cortexplorer.brainscuba.settings import (
    BankSettings,
    CaptionImageSettings,
    CaptionSettings,
    ProjectionSettings,
    SemanticsSettings,
)
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.features.extract import identity_differences
from cortexplorer.io.figures import write_figure
from cortexplorer.io.hdf5 import write_h5
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.truth import DemoTruth
from cortexplorer.models import BackboneSpec, load_backbone
from cortexplorer.models.identity import check_same_backbone
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import image_grid, labels_on_fsaverage5, labels_on_template

log = logging.getLogger(__name__)


def _truth(inputs: Mapping) -> DemoTruth | None:
    return DemoTruth(inputs["truth"]) if inputs.get("truth") else None


# ----------------------------------------------------------------------------------------------- bank


def embed_bank(*, inputs: dict, outputs: dict, settings: BankSettings):
    """The demo's bank: raw (not unit-normalised) embeddings of the pool with the encoder's backbone."""
    from cortexplorer.features.extract import extract_features

    return extract_features(images_h5=inputs["images"], stimuli_tsv=inputs["table"], name=settings.backbone,
                            spec=dict(settings.backbone_spec), out_h5=outputs["features"],
                            out_provenance=outputs["provenance"], batch_size=settings.batch_size,
                            demo_weights=inputs["demo_clip"], device=settings.device, seed=settings.seed,
                            normalize=False)


# ----------------------------------------------------------------------------------------------- projection


def check_bank(bank: Sequence[str], encoder: VoxelEncoder, dataset: str, encoder_path: str) -> int:
    """The bank's number of rows, after checking every shard holds embeddings of the encoder's backbone."""
    dim = encoder.weight.shape[0]
    if not bank:
        raise ValueError("The image bank (brainscuba.bank) lists no shards; give .npy/.h5 files of natural-image "
                         "embeddings (never the fMRI stimuli).")
    shapes = [shard_shape(p, dataset) for p in bank]
    for p, shape in zip(bank, shapes, strict=True):
        if len(shape) != 2 or shape[1] != dim:
            raise ValueError(f"Bank shard '{p}' holds embeddings of shape {shape}, but the encoder '{encoder_path}' "
                             f"reads {dim}-dimensional embeddings; embed the bank with the encoder's backbone "
                             f"({encoder.identity.get('arch', 'unknown')}).")
    n_rows = sum(s[0] for s in shapes)
    if n_rows == 0:
        raise ValueError(f"The image bank {list(bank)} (brainscuba.bank) is empty; it needs natural-image "
                         "embeddings (never the fMRI stimuli).")
    _check_bank_identity(bank, encoder.identity, dataset, encoder_path)
    return n_rows


@dataclass
class Projections:
    """Every repeat's projection: ``projected`` (repeats × V × D), ``effective`` (repeats × V) and per repeat
    (bank rows read, rows dropped, voxels skipped)."""

    projected: np.ndarray
    effective: np.ndarray
    counts: list[tuple[int, int, int]]
    sample_size: int


def project_repeats(weights: torch.Tensor, bank: Sequence[str], n_rows: int, settings: ProjectionSettings,
                    device: str) -> Projections:
    """Project every voxel onto ``repeats`` disjoint samples of the bank (``sample_size`` rows each)."""
    repeats = settings.repeats
    size = settings.sample_size or n_rows // repeats
    samples = (disjoint_bank_samples(n_rows, repeats, size, rng=settings.seed) if repeats > 1 or size < n_rows
               else [None])
    projected, effective, counts = [], [], []
    for r, rows in enumerate(samples):
        log.info("repeat %d/%d: %d voxels onto %d of %d bank rows (τ = %g)", r + 1, len(samples), weights.shape[0],
                 size, n_rows, settings.temperature)
        chunks = iter_bank_chunks(bank, settings.chunk_rows, dataset=settings.bank_dataset, rows=rows)
        result = project_voxels(weights, chunks, temperature=settings.temperature, device=device)
        projected.append(result.projected)
        effective.append(result.effective_images)
        counts.append((result.n_bank_rows, result.n_dropped_bank_rows, len(result.skipped_voxels)))
        log.info("repeat %d: %d bank rows read, %d dropped (zero norm), %d voxels skipped (zero weights); median "
                 "effective images per voxel %.1f", r + 1, *counts[-1], float(np.nanmedian(result.effective_images)))
    return Projections(np.stack(projected), np.stack(effective).astype(np.float32), counts, size)


def fitted_voxels(metrics_path: str, encoder: VoxelEncoder, encoder_path: str, metric: str,
                  min_score: float | None) -> np.ndarray:
    """Indices of the encoder's voxels whose held-out ``metric`` (a column of the encoder's ``metrics.tsv``) is at
    least ``min_score`` (all voxels when it is None; a voxel without a score, e.g. no noise ceiling, is dropped)."""
    metrics = read_tsv(metrics_path, required=["voxel", "i", "j", "k"])
    ijk = encoder.voxel_ijk.numpy()
    if len(metrics) != len(ijk) or not np.array_equal(metrics[["i", "j", "k"]].to_numpy(), ijk):
        raise ValueError(f"'{metrics_path}' scores other voxels than the encoder '{encoder_path}' holds; rerun the "
                         "encoder stage so that both come from one fit.")
    if min_score is None:
        return np.arange(len(ijk))
    if metric not in metrics:
        scores = [c for c in ("r2_noise_normalised", "r2", "r") if c in metrics]
        why = (" (noise-normalised R² needs a noise ceiling, i.e. stimuli shown more than once)"
               if metric == "r2_noise_normalised" else "")
        raise ValueError(f"'{metrics_path}' has no '{metric}' column{why}; set brainscuba.min_score.metric to one "
                         f"of {scores}, or its value to null to caption every voxel.")
    score = metrics[metric].to_numpy(dtype=float)
    kept = np.flatnonzero(score >= min_score)
    if kept.size == 0:
        raise ValueError(f"No voxel of '{encoder_path}' reaches brainscuba.min_score ({metric} >= {min_score}; the "
                         f"best is {np.nanmax(score) if np.isfinite(score).any() else 'n/a'}, scores in "
                         f"'{metrics_path}'); lower the threshold or set its value to null.")
    log.info("%d of %d voxels have %s >= %g (%d without a score) and are projected", kept.size, len(score), metric,
             min_score, int(np.isnan(score).sum()))
    return kept


def run_projection(*, inputs: dict, outputs: dict, settings: ProjectionSettings) -> None:
    """Project the encoder's fitted voxels (``min_score``) onto ``repeats`` disjoint samples of the bank. Writes
    ``projected`` (repeats × V × D), ``effective_images`` (repeats × V), ``voxel`` (their encoder indices),
    ``voxel_ijk`` and the bank counts."""
    device = resolve_device(settings.device)
    encoder = VoxelEncoder.load(inputs["encoder"])
    bank = list(inputs["bank"])
    kept = fitted_voxels(inputs["metrics"], encoder, inputs["encoder"], settings.score_metric, settings.min_score)
    weights = encoder.weight.T[torch.as_tensor(kept)]  # one row per kept voxel
    n_rows = check_bank(bank, encoder, settings.bank_dataset, inputs["encoder"])
    result = project_repeats(weights, bank, n_rows, settings, device)
    counts = result.counts
    write_h5(outputs["projection"], {"projected": result.projected, "effective_images": result.effective,
                                     "voxel": kept.astype(np.int64), "voxel_ijk": encoder.voxel_ijk.numpy()[kept]},
             attrs={"temperature": float(settings.temperature), "bank": json.dumps(bank),
                    "bank_rows_per_repeat": json.dumps([c[0] for c in counts]),
                    "identity": json.dumps(encoder.identity, sort_keys=True)})
    write_sidecar(outputs["provenance"], stage="brainscuba_project",
                  settings=dict(temperature=settings.temperature, repeats=settings.repeats,
                                sample_size=result.sample_size, chunk_rows=settings.chunk_rows, bank=bank,
                                min_score={"metric": settings.score_metric, "value": settings.min_score}),
                  seed=settings.seed, n_voxels=int(encoder.weight.shape[1]), n_voxels_projected=int(kept.size),
                  n_bank_rows=n_rows, bank_rows_read=[c[0] for c in counts],
                  bank_rows_dropped=[c[1] for c in counts], voxels_skipped=counts[0][2])


def _check_bank_identity(bank: Sequence[str], identity: Mapping, dataset: str, encoder_path: str) -> None:
    """A cortexplorer feature file records its model: it must be the encoder's backbone (other shards cannot say)."""
    for p in bank:
        if Path(p).suffix in (".h5", ".hdf5"):
            with h5py.File(p, "r") as f:
                found = json.loads(f.attrs["identity"]) if "identity" in f.attrs else None
                norm = str(f.attrs.get("norm", ""))
            if found is not None:
                diff = identity_differences(found, {k: identity[k] for k in ("kind", "arch", "weights_sha256")
                                                    if k in identity})
                if diff:
                    raise ValueError(f"Bank shard '{p}' holds embeddings of another model than the encoder "
                                     f"'{encoder_path}' reads ({diff}); embed the bank with the encoder's backbone.")
            if norm.startswith("unit"):
                log.warning("bank shard '%s' holds unit-normalised embeddings; the projection keeps the bank's "
                            "norms, so captions are decoded from unit-norm embeddings", p)


# ----------------------------------------------------------------------------------------------- captions


def voxel_regions(encoder: VoxelEncoder, regions: Sequence[str], rois_dir: str, truth: DemoTruth | None,
                  encoder_path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Encoder voxel indices and preferred category of each region (rois masks; demo: planted regions too)."""
    voxels, categories = {}, {}
    for region in regions:
        mask, category, path = region_mask(region, rois_dir, truth)
        voxels[region] = region_voxels(encoder, mask, region=region, mask_path=path, encoder_path=encoder_path)
        categories[region] = category
    return voxels, categories


def region_labels(n_voxels: int, region_vox: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each voxel's region (``n/a`` outside every region; a voxel in two regions lists both, comma-separated)."""
    roi = np.full(n_voxels, "n/a", dtype=object)
    for region, vox in region_vox.items():
        roi[vox] = np.where(roi[vox] == "n/a", region, roi[vox] + "," + region)
    return roi


def caption_repeats(model, projected: np.ndarray, voxel: np.ndarray, ijk: np.ndarray, roi: np.ndarray,
                    settings: CaptionSettings) -> pd.DataFrame:
    """One caption per projected voxel (``voxel``: encoder indices) and repeat (an empty caption: a skipped voxel)."""
    parts = []
    for r, emb in enumerate(projected):
        log.info("repeat %d/%d: captioning %d voxels (beam %d)", r + 1, len(projected), len(emb), settings.beam_size)
        text = model.caption(emb, beam_size=settings.beam_size, max_length=settings.max_length,
                             batch_size=settings.batch_size)
        parts.append(pd.DataFrame({"voxel": voxel, "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
                                   "repeat": r, "roi": roi, "caption": text}))
    return pd.concat(parts, ignore_index=True)


def read_projection(projection_h5: str, encoder: VoxelEncoder, encoder_path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(projected, voxel)``: the projected embeddings and the encoder indices of their voxels."""
    with h5py.File(projection_h5, "r") as f:
        projected = f["projected"][()]
        ijk = f["voxel_ijk"][()]
        voxel = f["voxel"][()] if "voxel" in f else None
    all_ijk = encoder.voxel_ijk.numpy()
    if voxel is None or voxel.max(initial=-1) >= len(all_ijk) or not np.array_equal(ijk, all_ijk[voxel]):
        raise ValueError(f"'{projection_h5}' was projected from another encoder than '{encoder_path}'; rerun "
                         "brainscuba_project.")
    return projected, voxel


def run_captions(*, inputs: dict, outputs: dict, settings: CaptionSettings) -> pd.DataFrame:
    """One caption per voxel and repeat: ``captions.tsv`` (voxel, i, j, k, repeat, roi, caption)."""
    from cortexplorer.brainscuba.captioner import load_captioner

    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    encoder_path = inputs["encoder"]
    encoder = VoxelEncoder.load(encoder_path)
    projected, voxel = read_projection(inputs["projection"], encoder, encoder_path)
    model = load_captioner(settings.captioner, demo_weights=inputs.get("captioner"), device=device)
    region_vox, _ = voxel_regions(encoder, settings.regions, inputs["rois"], _truth(inputs), encoder_path)
    kept = {region: (int(np.isin(vox, voxel).sum()), len(vox)) for region, vox in region_vox.items()}
    for region, (n, total) in kept.items():
        log.info("%s: %d of %d voxels fitted well enough to caption (brainscuba.min_score)", region, n, total)
    roi = region_labels(encoder.weight.shape[1], region_vox)[voxel]
    table = caption_repeats(model, projected, voxel, encoder.voxel_ijk.numpy()[voxel], roi, settings)
    skipped = int((table["caption"] == "").sum())
    table["caption"] = table["caption"].replace("", "n/a")
    write_tsv(table, outputs["captions"])
    write_sidecar(outputs["provenance"], stage="brainscuba_captions",
                  settings=dict(captioner=dict(settings.captioner), beam_size=settings.beam_size,
                                max_length=settings.max_length, regions=list(settings.regions)),
                  seed=settings.seed, captioner_identity=model.identity, n_captions=len(table), n_skipped=skipped,
                  voxels_captioned_per_region={r: {"captioned": n, "in_region": t} for r, (n, t) in kept.items()})
    return table


# ----------------------------------------------------------------------------------------------- semantics

CATEGORY_COLOURS = {"face": "#e6194b", "place": "#3cb44b", "body": "#4363d8", "word": "#911eb4", "food": "#c8a000",
                    "object": "#f58231", "animal": "#46f0f0", NO_NOUN: "#bbbbbb"}
N_EXAMPLES = 5  # example captions per region in examples.tsv


def run_semantics(*, inputs: dict, outputs: dict, settings: SemanticsSettings) -> pd.DataFrame:
    """Per-region caption semantics: ``regions.tsv`` (share of voxels naming the preferred category, vs all other
    voxels; category distribution), ``nouns.tsv`` (top nouns), ``examples.tsv`` and a map of caption categories."""
    lex = read_lexicon(settings.lexicon)
    captions = read_tsv(inputs["captions"], required=["voxel", "repeat", "caption"])
    encoder = VoxelEncoder.load(inputs["encoder"])
    region_vox, region_cat = voxel_regions(encoder, settings.regions, inputs["rois"], _truth(inputs),
                                           inputs["encoder"])
    known = captions[captions["caption"].notna()]
    annotated = annotate(known, lex)
    cats = lex.categories
    shares = region_shares(annotated, region_vox, region_cat, cats)
    write_tsv(shares, outputs["regions"])
    write_tsv(top_nouns(annotated, region_vox, settings.top_k), outputs["nouns"])
    write_tsv(example_captions(annotated, region_vox, N_EXAMPLES, seed=settings.seed), outputs["examples"])
    first = annotated[annotated["repeat"] == annotated["repeat"].min()]
    write_figure(category_map(first, encoder, [*cats, NO_NOUN], on_template=settings.on_template),
                 outputs["category_map"], dpi=100)
    for row in shares.itertuples():
        if not np.isnan(row.share_named):
            log.info("%s (%s): %.0f%% of %d voxels name it vs %.0f%% of other voxels (x%.1f)", row.region,
                     row.category, 100 * row.share_named, row.n_voxels, 100 * row.share_named_other_voxels, row.ratio)
    write_sidecar(outputs["provenance"], stage="brainscuba_semantics",
                  settings=dict(lexicon=lex.source, regions=list(settings.regions), top_k=settings.top_k),
                  seed=settings.seed, n_captions=len(known), categories=cats)
    return shares


def category_map(annotated: pd.DataFrame, encoder: VoxelEncoder, categories: Sequence[str], *, on_template: bool):
    """Each voxel coloured by its caption's category: on fsaverage5 (template-space data) or on axial slices."""
    shape = tuple(int(s) for s in encoder.shape.tolist())
    labels = np.zeros(shape, np.int16)
    ijk = encoder.voxel_ijk.numpy()[annotated["voxel"].to_numpy()]
    code = {c: i + 1 for i, c in enumerate(categories)}
    labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = [code[c] for c in annotated["category"]]
    img = nib.Nifti1Image(labels, encoder.affine.numpy())
    colours = [CATEGORY_COLOURS.get(c, "#ff00ff") for c in categories]
    counts = annotated["category"].value_counts()
    legend = [f"{c} ({int(counts.get(c, 0))})" for c in categories]
    if on_template:
        return labels_on_fsaverage5(img, colours, legend, "voxel caption categories (first noun)")
    return labels_on_template(img, colours, legend, on_template=False)


# ----------------------------------------------------------------------------------------------- images


def typical_captions(captions: Sequence[str], text_embeddings: np.ndarray, n: int) -> list[str]:
    """The ``n`` distinct captions closest (cosine) to the mean of the region's caption embeddings."""
    emb = text_embeddings / np.linalg.norm(text_embeddings, axis=1, keepdims=True)
    centre = emb.mean(0)
    order = np.argsort(-(emb @ centre), kind="stable")
    out: list[str] = []
    for i in order:
        if captions[i] not in out:
            out.append(captions[i])
        if len(out) == n:
            break
    return out


@dataclass
class CaptionImageSetup:
    """What the caption-driven images need: the encoder and its backbone, the captions per region, a text
    embedder, the judge (classifier, demo truth), the unguided samples judged once and the image generator."""

    encoder: VoxelEncoder
    net: torch.nn.Module
    captions: pd.DataFrame
    region_vox: dict[str, np.ndarray]
    region_cat: dict[str, str]
    text_embed: Callable[[Sequence[str]], np.ndarray]
    label: Callable[[np.ndarray], np.ndarray]
    truth: DemoJudge | None
    unguided: UnguidedBaseline
    generate: Callable  # (caption, caption index, region) -> (uint8 pixels, float images, finished)
    diffusion_identity: dict
    device: str


def load_caption_images(inputs: dict, settings: CaptionImageSettings) -> CaptionImageSetup:
    from cortexplorer.models.backbone import create_clip, text_embedder

    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    encoder = VoxelEncoder.load(inputs["encoder"])
    spec = BackboneSpec.from_config(settings.backbone, settings.backbone_spec)
    clip_model, _ = create_clip(spec, demo_weights=inputs.get("demo_clip"), device=device)
    net = load_backbone(spec, demo_weights=inputs.get("demo_clip"), device=device)
    check_same_backbone(net.identity, encoder.identity, encoder_path=inputs["encoder"],
                        config_key="brainscuba.backbone")
    captions = read_tsv(inputs["captions"], required=["voxel", "caption"])
    captions = captions[captions["caption"].notna()]
    truth_folder = _truth(inputs)
    region_vox, region_cat = voxel_regions(encoder, settings.regions, inputs["rois"], truth_folder, inputs["encoder"])
    text_embed = text_embedder(spec, clip_model, device)
    unguided_table = read_tsv(inputs["unguided"], required=["seed", "file"])
    if "status" in unguided_table:
        unguided_table = unguided_table[unguided_table["status"].fillna("ok") == "ok"]
    unguided = read_png_folder(inputs["unguided_images"], unguided_table)
    label = make_classifier(settings.classifier, oracle=inputs.get("oracle"), categories=SEMANTIC_CATEGORIES,
                            device=device)
    truth = DemoJudge(truth_folder, inputs["oracle"], encoder.voxel_ijk.numpy()) if truth_folder else None
    base = UnguidedBaseline.judge(unguided, label, truth)
    generate, identity = _caption_generator(inputs, settings, net, text_embed, device)
    return CaptionImageSetup(encoder, net, captions, region_vox, region_cat, text_embed, label, truth, base,
                             generate, identity, device)


def _caption_generator(inputs: dict, settings: CaptionImageSettings, net, text_embed, device: str):
    """``generate(caption, c, region)``: the demo guides its diffusion model with the caption's CLIP text
    embedding (the BrainDiVE loop); otherwise Stable Diffusion's own text conditioning (classifier-free
    guidance). Returns it with the diffusion model's identity."""
    from cortexplorer.models.diffusion import load_diffusion, load_stable_diffusion_pipeline, text_to_image

    spec, seeds = settings.diffusion, settings.seeds
    if spec["kind"] == "demo_diffusion":
        diffusion = load_diffusion(spec, demo_weights=inputs.get("diffusion"), device=device)

        def guided(text: str, c: int, region: str):
            score_fn = TextScore(net, torch.from_numpy(text_embed([text])[0])).to(device).eval()
            result = sample_in_batches(diffusion, score_fn, seeds=seeds, batch_size=settings.batch_size,
                                       steps=settings.steps, scale=settings.guidance_scale,
                                       label=f"brainscuba {region} caption {c + 1}")
            ok = check_finished(result, region, settings.guidance_scale)
            return result.uint8(), result.images, ok

        return guided, diffusion.identity
    pipe = load_stable_diffusion_pipeline(spec["model_id"], revision=spec.get("revision", "main"),
                                          variant=spec.get("variant"), cache_dir=spec.get("cache_dir"), device=device,
                                          config_key="braindive.diffusion")

    def conditioned(text: str, c: int, region: str):
        pixels = text_to_image(pipe, text, seeds, steps=settings.steps, guidance_scale=settings.guidance_scale)
        return pixels, torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255, np.ones(len(seeds), dtype=bool)

    return conditioned, dict(spec)


@dataclass
class RegionCaptionImages:
    """One region's caption-driven images: per-image rows, the finished images (named), grid entries, summary."""

    rows: list[dict]
    pixels: list[np.ndarray]
    names: list[str]
    grid_images: list[np.ndarray]
    grid_labels: list[str]
    summary: dict | None = None


def images_for_captions(region: str, chosen: list[str], region_score, setup: CaptionImageSetup,
                        settings: CaptionImageSettings) -> RegionCaptionImages:
    """Images of each chosen caption, scored by the region's predicted (and, in the demo, true) activation and
    labelled by the classifier."""
    seeds = settings.seeds
    vox = setup.region_vox[region]
    out = RegionCaptionImages([], [], [], [], [])
    for c, text in enumerate(chosen):
        pixels, images, ok = setup.generate(text, c, region)
        predicted = np.full(len(seeds), np.nan, dtype=np.float32)
        predicted[ok] = score_images(region_score, images[torch.as_tensor(ok)])
        true = np.full(len(seeds), np.nan)
        if setup.truth is not None:
            true[ok] = setup.truth.region_activation(setup.truth.responses(pixels[ok]), vox)
        labels = np.full(len(seeds), "n/a", dtype=object)
        if ok.any():
            labels[ok] = setup.label(pixels[ok])
        names = [f"{region}_c{c + 1}_seed-{s:05d}" for s in seeds]
        out.rows += [{"region": region, "caption_rank": c + 1, "caption": text, "seed": s,
                      "file": f"{names[j]}.png" if ok[j] else "n/a", "predicted": predicted[j], "true": true[j],
                      "label": labels[j], "status": "ok" if ok[j] else "failed"} for j, s in enumerate(seeds)]
        out.pixels += [pixels[j] for j in np.flatnonzero(ok)]
        out.names += [names[j] for j in np.flatnonzero(ok)]
        out.grid_images += [pixels[j] for j in np.flatnonzero(ok)[:4]]
        out.grid_labels += [f"{region} {c + 1}"] * min(4, int(ok.sum()))
    return out


def caption_images_summary(region: str, chosen: list[str], table: pd.DataFrame, pred_unguided: np.ndarray,
                           setup: CaptionImageSetup) -> dict:
    """The region's summary row: predicted (and true) activation and category share, captions vs unguided."""
    base, category = setup.unguided, setup.region_cat[region]
    row = {"region": region, "category": category or "n/a", "n_voxels": len(setup.region_vox[region]),
           "n_captions": len(chosen), "n_images": int((table["status"] == "ok").sum()),
           "n_unguided": len(base.images), "predicted_caption": float(table["predicted"].mean()),
           "predicted_unguided": float(pred_unguided.mean())}
    if category in SEMANTIC_CATEGORIES:  # share of images the classifier assigns to the region's category
        kept = table[table["status"] == "ok"]
        row["share_caption"] = category_share(kept["label"].to_numpy(), category)
        row["share_unguided"] = category_share(base.labels, category)
    if setup.truth is not None:
        row["true_caption"] = float(table["true"].mean())
        row.update(true_effect(row["true_caption"],
                               setup.truth.region_activation(base.true, setup.region_vox[region])))
    row["top_caption"] = chosen[0]
    log.info("region %s: predicted %.3f (captions) vs %.3f (unguided)%s%s; top caption %r", region,
             row["predicted_caption"], row["predicted_unguided"],
             f", {category} share {row['share_caption']:.2f} vs {row['share_unguided']:.2f}"
             if "share_caption" in row else "",
             f", true {row['true_caption']:.3f} vs {row['true_unguided']:.3f}" if setup.truth is not None else "",
             chosen[0])
    return row


def region_caption_images(region: str, setup: CaptionImageSetup,
                          settings: CaptionImageSettings) -> RegionCaptionImages | None:
    """Images from the region's most typical captions, with its summary row; None without captioned voxels."""
    vox = setup.region_vox[region]
    texts = setup.captions.loc[setup.captions["voxel"].isin(vox), "caption"].astype(str).tolist()
    if not texts:
        log.warning("region %s: no captioned voxels; no images", region)
        return None
    chosen = typical_captions(texts, setup.text_embed(texts), settings.n_captions)
    region_score = RegionScore(setup.net, setup.encoder, vox).to(setup.device).eval()
    out = images_for_captions(region, chosen, region_score, setup, settings)
    unguided = torch.from_numpy(setup.unguided.images).permute(0, 3, 1, 2).float() / 255
    out.summary = caption_images_summary(region, chosen, pd.DataFrame(out.rows), score_images(region_score, unguided),
                                         setup)
    return out


def run_caption_images(*, inputs: dict, outputs: dict, settings: CaptionImageSettings) -> pd.DataFrame:
    """Images from each region's most typical captions, scored like BrainDiVE's against the unguided samples of the
    same diffusion model: predicted region activation, the share classified as the region's category (BrainDiVE's
    classifier: the demo oracle, or the configured open_clip zero-shot) and, in the demo, the true activation."""
    setup = load_caption_images(inputs, settings)
    Path(outputs["images"]).parent.mkdir(parents=True, exist_ok=True)
    results = [r for r in (region_caption_images(region, setup, settings) for region in settings.regions)
               if r is not None]
    _write_named_pngs([p for r in results for p in r.pixels], [n for r in results for n in r.names],
                      outputs["images"])
    write_tsv(pd.DataFrame([row for r in results for row in r.rows]), outputs["table"])
    table = pd.DataFrame([r.summary for r in results])
    write_tsv(table, outputs["summary"])
    grid_images = [g for r in results for g in r.grid_images]
    write_image(image_grid(np.stack(grid_images) if grid_images else np.zeros((0, 8, 8, 3), np.uint8),
                           columns=4 * max(1, settings.n_captions), scale=3,
                           labels=[lb for r in results for lb in r.grid_labels]), outputs["grid"])
    write_sidecar(outputs["provenance"], stage="brainscuba_images",
                  settings=dict(regions=list(settings.regions), n_captions=settings.n_captions,
                                seeds_per_caption=settings.seeds_per_caption, first_seed=settings.first_seed,
                                steps=settings.steps, guidance_scale=settings.guidance_scale,
                                diffusion=dict(settings.diffusion), backbone=settings.backbone),
                  seed=settings.seed, backbone_identity=setup.net.identity, classifier=setup.label.name,
                  diffusion_identity=setup.diffusion_identity)
    return table


def _write_named_pngs(pixels: list[np.ndarray], names: list[str], folder: str) -> None:
    from PIL import Image

    from cortexplorer.io.atomic import atomic_dir

    with atomic_dir(folder) as tmp:
        for img, name in zip(pixels, names, strict=True):
            Image.fromarray(img).save(Path(tmp) / f"{name}.png")
