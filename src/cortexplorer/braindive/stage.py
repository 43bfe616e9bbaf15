"""Stage ``braindive``: images that drive one region, sampled with encoder guidance, re-ranked and kept.

For a region (a mask of the rois stage, or in the demo a planted region of the simulator), the
guidance score is the encoder's mean predicted response over the region's voxels. Seeds
``first_seed … first_seed + n_seeds − 1`` are sampled in batches (each image depends only on its
seed), every finished image is scored once more on its final pixels, and the top
``keep_fraction`` by predicted activation are kept (BrainDiVE keeps the top 20%, as NeuroGen did).
The unguided samples of the same seeds (rule ``braindive_unguided``) are the baseline.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from PIL import Image

from cortexplorer.braindive.guidance import AugmentedScore, RegionScore, SampleResult, sample
from cortexplorer.braindive.settings import BrainDiVESettings, SamplingSettings
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.io.atomic import atomic_dir, atomic_path
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.truth import DemoTruth
from cortexplorer.models import BackboneSpec, load_backbone
from cortexplorer.models.diffusion import DiffusionModel, load_diffusion
from cortexplorer.models.identity import check_same_backbone
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import image_grid
from cortexplorer.rois.contract import read_roi_set

log = logging.getLogger(__name__)


def region_mask(region: str, rois_dir: str | os.PathLike, truth: DemoTruth | None = None
                ) -> tuple[nib.Nifti1Image, str, str]:
    """``(mask, preferred category, source)`` of a region: a mask of the rois stage, else (demo) a planted region."""
    table, images = read_roi_set(rois_dir)
    if region in set(table["roi"]):
        category = table.set_index("roi").loc[region, "category"]
        return images[region], _category(category), f"{rois_dir}/{region}.nii.gz"
    names = list(table["roi"])
    if truth is not None:
        planted = truth.planted_table()
        path = truth.planted_mask_path(region)
        if region in set(planted["roi"]) and path.is_file():
            category = planted.set_index("roi").loc[region, "category"]
            return nib.load(path), _category(category), str(path)
        names += list(planted["roi"])
    raise ValueError(f"Region {region!r} (braindive.regions) is not a region of '{rois_dir}'"
                     f"{' or of the planted regions' if truth else ''}; available: {names}.")


def _category(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def region_voxels(encoder: VoxelEncoder, mask: nib.Nifti1Image, *, region: str, mask_path: str,
                  encoder_path: str) -> np.ndarray:
    """Indices of the encoder's voxels inside ``mask``; the mask must be on the encoder's voxel grid."""
    data = np.asarray(mask.dataobj) > 0
    ijk = encoder.voxel_ijk.numpy()
    if encoder.affine is not None:
        shape = tuple(int(s) for s in encoder.shape.tolist())
        if data.shape[:3] != shape or not np.allclose(mask.affine, encoder.affine.numpy(), atol=1e-3):
            raise ValueError(f"The mask of region {region!r} ('{mask_path}', grid {data.shape[:3]}) is not on the voxel "
                             f"grid of the encoder '{encoder_path}' (grid {shape}; affines "
                             f"{'equal' if np.allclose(mask.affine, encoder.affine.numpy(), atol=1e-3) else 'differ'}). "
                             "Resample the mask to the betas' grid, or refit the encoder on the same data as the rois stage.")
    if (ijk < 0).any() or (ijk >= np.array(data.shape[:3])).any():
        raise ValueError(f"The encoder '{encoder_path}' indexes voxels outside the grid of the mask of region "
                         f"{region!r} ('{mask_path}', {data.shape[:3]}): the two come from different data.")
    idx = np.flatnonzero(data[ijk[:, 0], ijk[:, 1], ijk[:, 2]])
    if len(idx) == 0:
        raise ValueError(f"Region {region!r} ('{mask_path}', {int(data.sum())} voxels in the mask) has no voxels among "
                         f"the {len(ijk)} voxels of the encoder '{encoder_path}'. Check braindive.regions and the mask.")
    outside = int(data.sum()) - len(idx)
    if outside:
        log.info("region %s: %d of its %d mask voxels are not in the encoder (outside the brain mask or without "
                 "betas)", region, outside, int(data.sum()))
    return idx


def sample_in_batches(model: DiffusionModel, score_fn, *, seeds: list[int], batch_size: int, steps: int, scale: float,
                      label: str, sag_scale: float = 0.0) -> SampleResult:
    parts = []
    for b in range(0, len(seeds), batch_size):
        chunk = seeds[b:b + batch_size]
        log.info("%s: seeds %d-%d of %d", label, b + 1, b + len(chunk), len(seeds))
        parts.append(sample(model, score_fn, seeds=chunk, steps=steps, scale=scale, sag_scale=sag_scale,
                            label=label))
    return SampleResult(torch.cat([p.images for p in parts]), [s for p in parts for s in p.seeds],
                        [f for p in parts for f in p.failed])


SCORE_BATCH = 64  # images per forward pass when scoring finished images


@torch.no_grad()
def score_images(score_fn, images: torch.Tensor, batch_size: int = SCORE_BATCH) -> np.ndarray:
    device = next(score_fn.parameters()).device
    out = [score_fn(images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def write_pngs(images: np.ndarray, seeds: list[int], ok: np.ndarray, folder: str | os.PathLike) -> list[str]:
    """One PNG per finished image (``seed-00017.png``), written into a folder that appears whole."""
    names = [f"seed-{s:05d}.png" if good else "" for s, good in zip(seeds, ok, strict=True)]
    with atomic_dir(folder) as tmp:
        for img, name in zip(images, names, strict=True):
            if name:
                Image.fromarray(img).save(tmp / name)
    return names


@dataclass
class RegionSetup:
    """What guides one region: the diffusion model, the region's voxels and the score on them."""

    model: DiffusionModel
    net: torch.nn.Module
    score: RegionScore
    voxels: np.ndarray
    category: str
    mask_path: str
    device: str


def load_region(inputs: dict, settings: BrainDiVESettings) -> RegionSetup:
    """Load the diffusion model, the encoder, the region's mask and the guiding backbone (checked to be the
    encoder's)."""
    device = resolve_device(settings.sampling.device)
    model = load_diffusion(settings.sampling.diffusion, demo_weights=inputs.get("diffusion"), device=device)
    encoder = VoxelEncoder.load(inputs["encoder"])
    truth = DemoTruth(inputs["truth"]) if inputs.get("truth") else None
    mask, category, mask_path = region_mask(settings.region, inputs["rois"], truth)
    voxels = region_voxels(encoder, mask, region=settings.region, mask_path=mask_path, encoder_path=inputs["encoder"])
    spec = BackboneSpec.from_config(settings.backbone, settings.backbone_spec)
    net = load_backbone(spec, demo_weights=inputs.get("demo_clip"), device=device)
    check_same_backbone(net.identity, encoder.identity, encoder_path=inputs["encoder"],
                        config_key="braindive.backbone")
    score = RegionScore(net, encoder.to(device), voxels).to(device).eval()
    return RegionSetup(model, net, score, voxels, category, mask_path, device)


@dataclass
class GuidedImages:
    """A region's guided samples: ``table`` (seed, predicted, rank, kept, status) and the images' pixels."""

    table: pd.DataFrame
    pixels: np.ndarray
    ok: np.ndarray


def guided_images(setup: RegionSetup, settings: BrainDiVESettings) -> GuidedImages:
    """Sample every seed with guidance, score each finished image once more and keep the top fraction."""
    s = settings.sampling
    seeds = s.seeds
    log.info("region %s (%s, %d voxels): %d seeds, %d steps, guidance scale %g, SAG %g, %s diffusion on %s",
             settings.region, setup.category or "no category", len(setup.voxels), s.n_seeds, s.steps,
             settings.guidance_scale, s.sag_scale, setup.model.kind, setup.device)
    score_fn = setup.score
    guide = AugmentedScore(score_fn, settings.augmentations, seed=s.seed) if settings.augmentations else score_fn
    result = sample_in_batches(setup.model, guide, seeds=seeds, batch_size=s.batch_size, steps=s.steps,
                               scale=settings.guidance_scale, sag_scale=s.sag_scale,
                               label=f"braindive {settings.region}")
    ok = check_finished(result, settings.region, settings.guidance_scale)
    predicted = np.full(len(seeds), np.nan, dtype=np.float32)
    predicted[ok] = score_images(score_fn, result.images[torch.as_tensor(ok)])
    table = rank_and_keep(seeds, predicted, ok, settings.keep_fraction)
    table["status"] = [f or "ok" for f in result.failed]
    return GuidedImages(table, result.uint8(), ok)


def generate_region(*, inputs: dict, outputs: dict, settings: BrainDiVESettings) -> pd.DataFrame:
    """Guided images for one region: PNGs of every finished seed, ``scores.tsv`` (seed, file, predicted, rank,
    kept, status) and a grid of the kept images."""
    setup = load_region(inputs, settings)
    result = guided_images(setup, settings)
    table, pixels = result.table, result.pixels
    table.insert(1, "file", write_pngs(pixels, settings.sampling.seeds, result.ok, outputs["images"]))
    write_tsv(table, outputs["scores"])
    kept = table[table["kept"]].sort_values("rank")
    write_image(image_grid(pixels[kept.index.to_numpy()], columns=min(10, max(1, len(kept))), scale=3,
                           labels=[f"{v:.2f}" for v in kept["predicted"]]), outputs["grid"])
    s = settings.sampling
    write_sidecar(outputs["provenance"], stage="braindive",
                  settings=dict(region=settings.region, n_seeds=s.n_seeds, first_seed=s.first_seed, steps=s.steps,
                                guidance_scale=settings.guidance_scale, sag_scale=s.sag_scale,
                                keep_fraction=settings.keep_fraction,
                                batch_size=s.batch_size, augmentations=settings.augmentations,
                                diffusion=dict(s.diffusion), backbone=settings.backbone),
                  seed=s.seed, region_category=setup.category, region_mask=setup.mask_path,
                  n_voxels=len(setup.voxels), diffusion_identity=setup.model.identity,
                  backbone_identity=setup.net.identity, n_failed=int((~result.ok).sum()),
                  n_kept=int(table["kept"].sum()))
    return table


def write_image(image: Image.Image, path: str) -> None:
    """A PIL image (a grid) saved as PNG under a temporary name, renamed when complete."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="png")


def check_finished(result: SampleResult, region: str, guidance_scale: float) -> np.ndarray:
    """Which seeds finished; an error when none did (the guidance scale is too large for the model)."""
    ok = result.ok
    if not ok.any():
        raise FloatingPointError(f"Every seed of region {region!r} became non-finite (first: {result.failed[0]}); "
                                 f"braindive.guidance_scale = {guidance_scale} is too large for this model: lower it.")
    if not ok.all():
        log.warning("region %s: %d of %d seeds stopped (non-finite; seeds %s); the others are kept and ranked",
                    region, int((~ok).sum()), len(ok), [s for s, good in zip(result.seeds, ok, strict=True) if not good])
    return ok


def rank_and_keep(seeds: list[int], predicted: np.ndarray, ok: np.ndarray, keep_fraction: float) -> pd.DataFrame:
    """Rank finished images by predicted activation (1 = highest) and keep the top ``keep_fraction`` (at least one)."""
    order = np.argsort(-np.where(ok, predicted, -np.inf), kind="stable")
    rank = np.zeros(len(seeds), dtype=int)
    rank[order] = np.arange(1, len(seeds) + 1)
    n_keep = max(1, round(keep_fraction * int(ok.sum())))
    return pd.DataFrame({"seed": seeds, "predicted": predicted, "rank": np.where(ok, rank, 0),
                         "kept": ok & (rank <= n_keep)})


def generate_unguided(*, inputs: dict, outputs: dict, settings: SamplingSettings) -> pd.DataFrame:
    """The same seeds without guidance (the baseline every region is compared with)."""
    device = resolve_device(settings.device)
    model = load_diffusion(settings.diffusion, demo_weights=inputs.get("diffusion"), device=device)
    seeds = settings.seeds
    result = sample_in_batches(model, None, seeds=seeds, batch_size=settings.batch_size, steps=settings.steps,
                               scale=0.0, sag_scale=settings.sag_scale, label="braindive unguided")
    ok = result.ok
    pixels = result.uint8()
    table = pd.DataFrame({"seed": seeds, "file": write_pngs(pixels, seeds, ok, outputs["images"]),
                          "status": [f or "ok" for f in result.failed]})
    write_tsv(table, outputs["table"])
    n = min(40, len(seeds))
    write_image(image_grid(pixels[:n], columns=10, scale=3), outputs["grid"])
    write_sidecar(outputs["provenance"], stage="braindive_unguided",
                  settings=dict(n_seeds=settings.n_seeds, first_seed=settings.first_seed, steps=settings.steps,
                                sag_scale=settings.sag_scale, diffusion=dict(settings.diffusion)),
                  seed=settings.seed, diffusion_identity=model.identity)
    return table
