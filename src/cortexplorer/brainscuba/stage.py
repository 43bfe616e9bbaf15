"""Stage ``brainscuba``: project every voxel's encoder weights onto natural-image embeddings, caption
them, read what the captions say per region, and generate images from each region's typical captions.

Rules: ``brainscuba_bank`` (demo: raw embeddings of the disjoint image pool, never the fMRI
stimuli), ``brainscuba_project``, ``brainscuba_captions``, ``brainscuba_semantics`` and
``brainscuba_images`` (with its evaluation against the unguided samples of BrainDiVE).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import torch

from cortexplorer.braindive.evaluate import SEMANTIC_CATEGORIES, make_classifier, read_png_folder
from cortexplorer.braindive.guidance import RegionScore, TextScore
from cortexplorer.braindive.stage import (
    _check_same_backbone,
    check_finished,
    region_mask,
    region_voxels,
    sample_in_batches,
    score_images,
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
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.features.extract import identity_differences
from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.hdf5 import write_h5
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.models import BackboneSpec, load_backbone
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import image_grid, labels_on_fsaverage5, labels_on_template

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- bank


# ----------------------------------------------------------------------------------------------- projection


def run_projection(*, encoder_path: str, bank: Sequence[str], out_h5: str, out_provenance: str,
                   temperature: float = 150.0, repeats: int = 1, sample_size: int | None = None,
                   chunk_rows: int = 32768, bank_dataset: str = "features", device: str = "auto",
                   seed: int = 0) -> None:
    """Project every voxel of the encoder onto ``repeats`` disjoint samples of the bank (``sample_size`` rows
    each; ``None``: the bank split evenly). Writes ``projected`` (repeats × V × D), ``effective_images``
    (repeats × V), ``voxel_ijk`` and the bank counts."""
    device = resolve_device(device)
    encoder = VoxelEncoder.load(encoder_path)
    weights = encoder.weight.T  # one row per voxel
    dim = weights.shape[1]
    if not bank:
        raise ValueError("The image bank (brainscuba.bank) lists no shards; give .npy/.h5 files of natural-image "
                         "embeddings (never the fMRI stimuli).")
    shapes = [shard_shape(p, bank_dataset) for p in bank]
    for p, shape in zip(bank, shapes, strict=True):
        if len(shape) != 2 or shape[1] != dim:
            raise ValueError(f"Bank shard '{p}' holds embeddings of shape {shape}, but the encoder '{encoder_path}' "
                             f"reads {dim}-dimensional embeddings; embed the bank with the encoder's backbone "
                             f"({encoder.identity.get('arch', 'unknown')}).")
    n_rows = sum(s[0] for s in shapes)
    if n_rows == 0:
        raise ValueError(f"The image bank {list(bank)} (brainscuba.bank) is empty; it needs natural-image "
                         "embeddings (never the fMRI stimuli).")
    _check_bank_identity(bank, encoder.identity, bank_dataset, encoder_path)
    size = sample_size or n_rows // repeats
    samples = disjoint_bank_samples(n_rows, repeats, size, rng=seed) if repeats > 1 or size < n_rows else [None]
    projected, effective, counts = [], [], []
    for r, rows in enumerate(samples):
        log.info("repeat %d/%d: %d voxels onto %d of %d bank rows (τ = %g)", r + 1, len(samples), weights.shape[0],
                 size, n_rows, temperature)
        result = project_voxels(weights, iter_bank_chunks(bank, chunk_rows, dataset=bank_dataset, rows=rows), temperature=temperature, device=device)
        projected.append(result.projected)
        effective.append(result.effective_images)
        counts.append((result.n_bank_rows, result.n_dropped_bank_rows, len(result.skipped_voxels)))
        log.info("repeat %d: %d bank rows read, %d dropped (zero norm), %d voxels skipped (zero weights); median "
                 "effective images per voxel %.1f", r + 1, *counts[-1], float(np.nanmedian(result.effective_images)))
    write_h5(out_h5, {"projected": np.stack(projected), "effective_images": np.stack(effective).astype(np.float32),
                      "voxel_ijk": encoder.voxel_ijk.numpy()},
             attrs={"temperature": float(temperature), "bank": json.dumps(list(bank)),
                    "bank_rows_per_repeat": json.dumps([c[0] for c in counts]),
                    "identity": json.dumps(encoder.identity, sort_keys=True)})
    write_sidecar(out_provenance, stage="brainscuba_project",
                  settings=dict(temperature=temperature, repeats=repeats, sample_size=size, chunk_rows=chunk_rows,
                                bank=list(bank)),
                  seed=seed, n_voxels=int(weights.shape[0]), n_bank_rows=n_rows,
                  bank_rows_read=[c[0] for c in counts], bank_rows_dropped=[c[1] for c in counts],
                  voxels_skipped=counts[0][2])


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


def voxel_regions(encoder: VoxelEncoder, regions: Sequence[str], rois_dir: str, truth_dir: str | None,
                  encoder_path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Encoder voxel indices and preferred category of each region (rois masks; demo: planted regions too)."""
    voxels, categories = {}, {}
    for region in regions:
        mask, category, path = region_mask(region, rois_dir, truth_dir)
        voxels[region] = region_voxels(encoder, mask, region=region, mask_path=path, encoder_path=encoder_path)
        categories[region] = category
    return voxels, categories


def run_captions(*, projection_h5: str, encoder_path: str, rois_dir: str, regions: Sequence[str], out_tsv: str,
                 out_provenance: str, captioner: Mapping, demo_captioner: str | None = None,
                 truth_dir: str | None = None, beam_size: int = 5, max_length: int = 67, batch_size: int = 64,
                 device: str = "auto", seed: int = 0) -> pd.DataFrame:
    """One caption per voxel and repeat: ``captions.tsv`` (voxel, i, j, k, repeat, roi, caption)."""
    from cortexplorer.brainscuba.captioner import load_captioner

    device = resolve_device(device)
    torch.manual_seed(seed)
    encoder = VoxelEncoder.load(encoder_path)
    with h5py.File(projection_h5, "r") as f:
        projected = f["projected"][()]
        ijk = f["voxel_ijk"][()]
    if not np.array_equal(ijk, encoder.voxel_ijk.numpy()):
        raise ValueError(f"'{projection_h5}' was projected from another encoder than '{encoder_path}'; rerun "
                         "brainscuba_project.")
    model = load_captioner(captioner, demo_weights=demo_captioner, device=device)
    region_vox, _ = voxel_regions(encoder, regions, rois_dir, truth_dir, encoder_path)
    roi = np.full(len(ijk), "n/a", dtype=object)
    for region, vox in region_vox.items():  # a voxel in two regions lists both
        roi[vox] = np.where(roi[vox] == "n/a", region, roi[vox] + "," + region)
    parts = []
    for r, emb in enumerate(projected):
        log.info("repeat %d/%d: captioning %d voxels (beam %d)", r + 1, len(projected), len(emb), beam_size)
        text = model.caption(emb, beam_size=beam_size, max_length=max_length, batch_size=batch_size)
        parts.append(pd.DataFrame({"voxel": np.arange(len(ijk)), "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
                                   "repeat": r, "roi": roi, "caption": text}))
    table = pd.concat(parts, ignore_index=True)
    skipped = int((table["caption"] == "").sum())
    table["caption"] = table["caption"].replace("", "n/a")
    write_tsv(table, out_tsv)
    write_sidecar(out_provenance, stage="brainscuba_captions",
                  settings=dict(captioner=dict(captioner), beam_size=beam_size, max_length=max_length,
                                regions=list(regions)),
                  seed=seed, captioner_identity=model.identity, n_captions=len(table), n_skipped=skipped)
    return table


# ----------------------------------------------------------------------------------------------- semantics

CATEGORY_COLOURS = {"face": "#e6194b", "place": "#3cb44b", "body": "#4363d8", "word": "#911eb4", "food": "#c8a000",
                    "object": "#f58231", "animal": "#46f0f0", NO_NOUN: "#bbbbbb"}


def run_semantics(*, captions_tsv: str, encoder_path: str, rois_dir: str, regions: Sequence[str], out_regions: str,
                  out_nouns: str, out_examples: str, out_map: str, out_provenance: str, lexicon: str | None = None,
                  truth_dir: str | None = None, top_k: int = 20, n_examples: int = 5, on_template: bool = True,
                  seed: int = 0) -> pd.DataFrame:
    """Per-region caption semantics: ``regions.tsv`` (share of voxels naming the preferred category, vs all other
    voxels; category distribution), ``nouns.tsv`` (top nouns), ``examples.tsv`` and a map of caption categories."""
    lex = read_lexicon(lexicon)
    captions = read_tsv(captions_tsv, required=["voxel", "repeat", "caption"])
    encoder = VoxelEncoder.load(encoder_path)
    region_vox, region_cat = voxel_regions(encoder, regions, rois_dir, truth_dir, encoder_path)
    known = captions[captions["caption"].notna()]
    annotated = annotate(known, lex)
    cats = lex.categories
    shares = region_shares(annotated, region_vox, region_cat, cats)
    write_tsv(shares, out_regions)
    write_tsv(top_nouns(annotated, region_vox, top_k), out_nouns)
    write_tsv(example_captions(annotated, region_vox, n_examples, seed=seed), out_examples)
    first = annotated[annotated["repeat"] == annotated["repeat"].min()]
    with atomic_path(out_map) as tmp:
        category_map(first, encoder, [*cats, NO_NOUN], on_template=on_template).savefig(tmp, dpi=100, format="png")
    for row in shares.itertuples():
        if not np.isnan(row.share_named):
            log.info("%s (%s): %.0f%% of %d voxels name it vs %.0f%% of other voxels (x%.1f)", row.region,
                     row.category, 100 * row.share_named, row.n_voxels, 100 * row.share_named_other_voxels, row.ratio)
    write_sidecar(out_provenance, stage="brainscuba_semantics",
                  settings=dict(lexicon=lex.source, regions=list(regions), top_k=top_k), seed=seed,
                  n_captions=len(known), categories=cats)
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


def run_caption_images(*, captions_tsv: str, encoder_path: str, rois_dir: str, regions: Sequence[str],
                       unguided_dir: str, out_images: str, out_table: str, out_summary: str, out_grid: str,
                       out_provenance: str, backbone: str, backbone_spec: dict, diffusion_spec: dict,
                       demo_clip: str | None = None, demo_diffusion: str | None = None, oracle: str | None = None,
                       truth_dir: str | None = None, classifier: Mapping | None = None, n_captions: int = 3,
                       seeds_per_caption: int = 8,
                       first_seed: int = 0, steps: int = 50, guidance_scale: float = 7.5, batch_size: int = 8,
                       device: str = "auto", seed: int = 0) -> pd.DataFrame:
    """Images from each region's most typical captions, scored like BrainDiVE's against the unguided samples of the
    same diffusion model: predicted region activation, the share classified as the region's category (BrainDiVE's
    classifier: the demo oracle, or ``classifier``'s open_clip zero-shot) and, in the demo, the true activation."""
    from cortexplorer.models.backbone import create_clip
    from cortexplorer.models.diffusion import load_diffusion, load_stable_diffusion_pipeline, text_to_image

    device = resolve_device(device)
    torch.manual_seed(seed)
    encoder = VoxelEncoder.load(encoder_path)
    spec = BackboneSpec.from_config(backbone, backbone_spec)
    clip_model, _ = create_clip(spec, demo_weights=demo_clip, device=device)
    net = load_backbone(spec, demo_weights=demo_clip, device=device)
    _check_same_backbone(net.identity, encoder.identity, encoder_path)
    captions = read_tsv(captions_tsv, required=["voxel", "caption"])
    captions = captions[captions["caption"].notna()]
    region_vox, region_cat = voxel_regions(encoder, regions, rois_dir, truth_dir, encoder_path)
    text_embed = _text_embedder(spec, clip_model, device)
    unguided_table = read_tsv(Path(unguided_dir) / "seeds.tsv", required=["seed", "file"])
    unguided_table = unguided_table[unguided_table["status"].fillna("ok") == "ok"] if "status" in unguided_table \
        else unguided_table
    unguided = read_png_folder(Path(unguided_dir) / "images", unguided_table)
    label = make_classifier(dict(classifier) if classifier else None, oracle=oracle, categories=SEMANTIC_CATEGORIES,
                            device=device)
    unguided_labels = label(unguided) if len(unguided) else np.zeros(0, dtype=object)
    truth = oracle_model = truth_cols = None
    if truth_dir is not None:
        from cortexplorer.io.truth import match_voxels, truth_voxel_ijk
        from cortexplorer.oracle import load_oracle
        from cortexplorer.simulate.response import TrueResponseModel

        truth = TrueResponseModel.load(Path(truth_dir) / "model.h5")
        oracle_model = load_oracle(oracle)
        truth_cols = match_voxels(truth_voxel_ijk(truth_dir), encoder.voxel_ijk.numpy())
        truth_unguided = truth.predict(unguided, oracle_model)
    diffusion = pipe = None
    if diffusion_spec["kind"] == "demo_diffusion":
        diffusion = load_diffusion(diffusion_spec, demo_weights=demo_diffusion, device=device)
    else:
        pipe = load_stable_diffusion_pipeline(diffusion_spec["model_id"], revision=diffusion_spec.get("revision", "main"),
                                              variant=diffusion_spec.get("variant"),
                                              cache_dir=diffusion_spec.get("cache_dir"), device=device,
                                              config_key="braindive.diffusion")
    rows, summary, grid_images, grid_labels = [], [], [], []
    Path(out_images).parent.mkdir(parents=True, exist_ok=True)
    all_pixels: list[np.ndarray] = []
    all_names: list[str] = []
    for region in regions:
        vox = region_vox[region]
        texts = captions.loc[captions["voxel"].isin(vox), "caption"].astype(str).tolist()
        if not texts:
            log.warning("region %s: no captioned voxels; no images", region)
            continue
        chosen = typical_captions(texts, text_embed(texts), n_captions)
        region_score = RegionScore(net, encoder, vox).to(device).eval()
        for c, text in enumerate(chosen):
            seeds = list(range(first_seed, first_seed + seeds_per_caption))
            if diffusion is not None:  # demo: the BrainDiVE loop, guided by the caption's CLIP text embedding
                score_fn = TextScore(net, torch.from_numpy(text_embed([text])[0])).to(device).eval()
                result = sample_in_batches(diffusion, score_fn, seeds=seeds, batch_size=batch_size, steps=steps,
                                           scale=guidance_scale, label=f"brainscuba {region} caption {c + 1}")
                ok = check_finished(result, region, guidance_scale)
                pixels, images = result.uint8(), result.images
            else:  # Stable Diffusion's own text conditioning (classifier-free guidance)
                pixels = text_to_image(pipe, text, seeds, steps=steps, guidance_scale=guidance_scale)
                ok = np.ones(len(seeds), dtype=bool)
                images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
            predicted = np.full(len(seeds), np.nan, dtype=np.float32)
            predicted[ok] = score_images(region_score, images[torch.as_tensor(ok)])
            true = np.full(len(seeds), np.nan)
            if truth is not None:
                cols = truth_cols[vox][truth_cols[vox] >= 0]
                true[ok] = truth.predict(pixels[ok], oracle_model)[:, cols].mean(1)
            labels = np.full(len(seeds), "n/a", dtype=object)
            if ok.any():
                labels[ok] = label(pixels[ok])
            names = [f"{region}_c{c + 1}_seed-{s:05d}" for s in seeds]
            for j, s in enumerate(seeds):
                rows.append({"region": region, "caption_rank": c + 1, "caption": text, "seed": s,
                             "file": f"{names[j]}.png" if ok[j] else "n/a", "predicted": predicted[j], "true": true[j],
                             "label": labels[j], "status": "ok" if ok[j] else "failed"})
            all_pixels += [pixels[j] for j in np.flatnonzero(ok)]
            all_names += [names[j] for j in np.flatnonzero(ok)]
            grid_images += [pixels[j] for j in np.flatnonzero(ok)[:4]]
            grid_labels += [f"{region} {c + 1}"] * min(4, int(ok.sum()))
        table = pd.DataFrame([r for r in rows if r["region"] == region])
        pred_unguided = score_images(region_score, torch.from_numpy(unguided).permute(0, 3, 1, 2).float() / 255)
        row = {"region": region, "category": region_cat[region] or "n/a", "n_voxels": len(vox),
               "n_captions": len(chosen), "n_images": int((table["status"] == "ok").sum()),
               "n_unguided": len(unguided), "predicted_caption": float(table["predicted"].mean()),
               "predicted_unguided": float(pred_unguided.mean())}
        category = region_cat[region]
        if category in SEMANTIC_CATEGORIES:  # share of images the classifier assigns to the region's category
            kept = table[table["status"] == "ok"]
            row["share_caption"] = float((kept["label"] == category).mean()) if len(kept) else np.nan
            row["share_unguided"] = float(np.mean(unguided_labels == category)) if len(unguided) else np.nan
        if truth is not None:
            cols = truth_cols[vox][truth_cols[vox] >= 0]
            tu = truth_unguided[:, cols].mean(1)
            row.update(true_caption=float(table["true"].mean()), true_unguided=float(tu.mean()),
                       true_unguided_sd=float(tu.std(ddof=1)))
            row["true_effect_sd"] = (row["true_caption"] - row["true_unguided"]) / row["true_unguided_sd"]
        row["top_caption"] = chosen[0]
        summary.append(row)
        log.info("region %s: predicted %.3f (captions) vs %.3f (unguided)%s%s; top caption %r", region,
                 row["predicted_caption"], row["predicted_unguided"],
                 f", {category} share {row['share_caption']:.2f} vs {row['share_unguided']:.2f}"
                 if "share_caption" in row else "",
                 f", true {row['true_caption']:.3f} vs {row['true_unguided']:.3f}" if truth is not None else "",
                 chosen[0])
    _write_named_pngs(all_pixels, all_names, out_images)
    write_tsv(pd.DataFrame(rows), out_table)
    table = pd.DataFrame(summary)
    write_tsv(table, out_summary)
    with atomic_path(out_grid) as tmp:
        image_grid(np.stack(grid_images) if grid_images else np.zeros((0, 8, 8, 3), np.uint8),
                   columns=4 * max(1, n_captions), scale=3, labels=grid_labels).save(tmp, format="png")
    write_sidecar(out_provenance, stage="brainscuba_images",
                  settings=dict(regions=list(regions), n_captions=n_captions, seeds_per_caption=seeds_per_caption,
                                first_seed=first_seed, steps=steps, guidance_scale=guidance_scale,
                                diffusion=diffusion_spec, backbone=backbone),
                  seed=seed, backbone_identity=net.identity, classifier=label.name,
                  diffusion_identity=diffusion.identity if diffusion is not None else dict(diffusion_spec))
    return table


def _text_embedder(spec: BackboneSpec, clip_model, device: str):
    """Unit-normalised CLIP text embeddings of captions (the encoder backbone's own text tower)."""
    from cortexplorer.models.backbone import DEMO_ARCH, open_clip_module

    tokenizer = open_clip_module().get_tokenizer(DEMO_ARCH if spec.kind == "demo_clip" else spec.arch)

    @torch.no_grad()
    def embed(texts: Sequence[str]) -> np.ndarray:
        out = [clip_model.encode_text(tokenizer(list(texts[i:i + 256])).to(device), normalize=True).float().cpu()
               for i in range(0, len(texts), 256)]
        return torch.cat(out).numpy()

    return embed


def _write_named_pngs(pixels: list[np.ndarray], names: list[str], folder: str) -> None:
    from PIL import Image

    from cortexplorer.io.atomic import atomic_dir

    with atomic_dir(folder) as tmp:
        for img, name in zip(pixels, names, strict=True):
            Image.fromarray(img).save(Path(tmp) / f"{name}.png")



def run_demo_captioner(*, bank_h5: str, pool_table: str, out_model: str, out_curve: str, out_provenance: str,
                       device: str = "auto", seed: int = 0, **settings) -> dict:
    """Train the demo's captioner on the pool's raw embeddings (the demo bank) and the pool's captions."""
    from cortexplorer.brainscuba.captioner import train_demo_captioner
    from cortexplorer.features.extract import read_features

    device = resolve_device(device)
    feats = read_features(bank_h5)
    table = read_tsv(pool_table, required=["stim_id", "caption"])
    if not np.array_equal(feats.stim_id, table["stim_id"].astype(str).to_numpy()):
        raise ValueError(f"'{bank_h5}' and '{pool_table}' list different images; rerun brainscuba_bank.")
    metrics = train_demo_captioner(embeddings=feats.features, captions=table["caption"].astype(str).tolist(),
                                   out_model=out_model, out_curve=out_curve, seed=seed, device=device, **settings)
    write_sidecar(out_provenance, stage="demo_captioner", settings=dict(settings), seed=seed,
                  backbone_identity=feats.identity, metrics=metrics)
    return metrics
