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
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from PIL import Image

from cortexplorer.braindive.guidance import AugmentedScore, RegionScore, SampleResult, sample
from cortexplorer.device import resolve as resolve_device
from cortexplorer.encoder.model import VoxelEncoder
from cortexplorer.features.extract import identity_differences
from cortexplorer.io.atomic import atomic_dir, atomic_path
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.models import BackboneSpec, load_backbone
from cortexplorer.models.diffusion import DiffusionModel, load_diffusion
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import image_grid
from cortexplorer.rois.contract import read_roi_set

log = logging.getLogger(__name__)


def region_mask(region: str, rois_dir: str | os.PathLike, truth_dir: str | os.PathLike | None = None
                ) -> tuple[nib.Nifti1Image, str, str]:
    """``(mask, preferred category, source)`` of a region: a mask of the rois stage, else (demo) a planted region."""
    table, images = read_roi_set(rois_dir)
    if region in set(table["roi"]):
        category = table.set_index("roi").loc[region, "category"]
        return images[region], _category(category), f"{rois_dir}/{region}.nii.gz"
    names = list(table["roi"])
    if truth_dir is not None:
        planted = read_tsv(Path(truth_dir) / "regions.tsv", required=["roi", "category"])
        path = Path(truth_dir) / "regions" / f"{region}.nii.gz"
        if region in set(planted["roi"]) and path.is_file():
            category = planted.set_index("roi").loc[region, "category"]
            return nib.load(path), _category(category), str(path)
        names += list(planted["roi"])
    raise ValueError(f"Region {region!r} (braindive.regions) is not a region of '{rois_dir}'"
                     f"{' or of the planted regions' if truth_dir else ''}; available: {names}.")


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
                      label: str) -> SampleResult:
    parts = []
    for b in range(0, len(seeds), batch_size):
        chunk = seeds[b:b + batch_size]
        log.info("%s: seeds %d-%d of %d", label, b + 1, b + len(chunk), len(seeds))
        parts.append(sample(model, score_fn, seeds=chunk, steps=steps, scale=scale, label=label))
    return SampleResult(torch.cat([p.images for p in parts]), [s for p in parts for s in p.seeds],
                        [f for p in parts for f in p.failed])


@torch.no_grad()
def score_images(score_fn, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
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


def _setup(diffusion_spec: dict, demo_diffusion: str | None, device: str) -> tuple[DiffusionModel, str]:
    device = resolve_device(device)
    return load_diffusion(diffusion_spec, demo_weights=demo_diffusion, device=device), device


def generate_region(*, region: str, encoder_path: str, rois_dir: str, out_images: str, out_scores: str, out_grid: str,
                    out_provenance: str, diffusion_spec: dict, backbone: str, backbone_spec: dict,
                    demo_diffusion: str | None = None, demo_clip: str | None = None, truth_dir: str | None = None,
                    n_seeds: int = 500, first_seed: int = 0, batch_size: int = 8, steps: int = 50,
                    guidance_scale: float = 130.0, keep_fraction: float = 0.2, augmentations: int = 0,
                    device: str = "auto", seed: int = 0) -> pd.DataFrame:
    """Guided images for one region: PNGs of every finished seed, ``scores.tsv`` (seed, file, predicted, rank,
    kept, status) and a grid of the kept images."""
    model, device = _setup(diffusion_spec, demo_diffusion, device)
    encoder = VoxelEncoder.load(encoder_path)
    mask, category, mask_path = region_mask(region, rois_dir, truth_dir)
    voxels = region_voxels(encoder, mask, region=region, mask_path=mask_path, encoder_path=encoder_path)
    spec = BackboneSpec.from_config(backbone, backbone_spec)
    net = load_backbone(spec, demo_weights=demo_clip, device=device)
    _check_same_backbone(net.identity, encoder.identity, encoder_path)
    score_fn = RegionScore(net, encoder.to(device), voxels).to(device).eval()
    seeds = list(range(first_seed, first_seed + n_seeds))
    log.info("region %s (%s, %d voxels): %d seeds, %d steps, guidance scale %g, %s diffusion on %s", region,
             category or "no category", len(voxels), n_seeds, steps, guidance_scale, model.kind, device)
    guide = AugmentedScore(score_fn, augmentations, seed=seed) if augmentations else score_fn
    result = sample_in_batches(model, guide, seeds=seeds, batch_size=batch_size, steps=steps, scale=guidance_scale,
                               label=f"braindive {region}")
    ok = check_finished(result, region, guidance_scale)
    predicted = np.full(len(seeds), np.nan, dtype=np.float32)
    predicted[ok] = score_images(score_fn, result.images[torch.as_tensor(ok)])
    table = rank_and_keep(seeds, predicted, ok, keep_fraction)
    table["status"] = [f or "ok" for f in result.failed]
    pixels = result.uint8()
    table.insert(1, "file", write_pngs(pixels, seeds, ok, out_images))
    write_tsv(table, out_scores)
    kept = table[table["kept"]].sort_values("rank")
    with atomic_path(out_grid) as tmp:
        image_grid(pixels[kept.index.to_numpy()], columns=min(10, max(1, len(kept))), scale=3,
                   labels=[f"{v:.2f}" for v in kept["predicted"]]).save(tmp, format="png")
    write_sidecar(out_provenance, stage="braindive",
                  settings=dict(region=region, n_seeds=n_seeds, first_seed=first_seed, steps=steps,
                                guidance_scale=guidance_scale, keep_fraction=keep_fraction, batch_size=batch_size,
                                augmentations=augmentations,
                                diffusion=diffusion_spec, backbone=backbone),
                  seed=seed, region_category=category, region_mask=mask_path, n_voxels=len(voxels),
                  diffusion_identity=model.identity, backbone_identity=net.identity,
                  n_failed=int((~ok).sum()), n_kept=int(table["kept"].sum()))
    return table


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


def _check_same_backbone(loaded: dict, fitted: dict, encoder_path: str) -> None:
    diff = identity_differences(loaded, fitted)
    if diff:
        raise ValueError(f"The encoder '{encoder_path}' reads features of another backbone than braindive.backbone "
                         f"({diff}: loaded vs fitted); set braindive.backbone to the backbone the encoder was "
                         "fitted on.")


def rank_and_keep(seeds: list[int], predicted: np.ndarray, ok: np.ndarray, keep_fraction: float) -> pd.DataFrame:
    """Rank finished images by predicted activation (1 = highest) and keep the top ``keep_fraction`` (at least one)."""
    order = np.argsort(-np.where(ok, predicted, -np.inf), kind="stable")
    rank = np.zeros(len(seeds), dtype=int)
    rank[order] = np.arange(1, len(seeds) + 1)
    n_keep = max(1, round(keep_fraction * int(ok.sum())))
    return pd.DataFrame({"seed": seeds, "predicted": predicted, "rank": np.where(ok, rank, 0),
                         "kept": ok & (rank <= n_keep)})


def generate_unguided(*, out_images: str, out_table: str, out_grid: str, out_provenance: str, diffusion_spec: dict,
                      demo_diffusion: str | None = None, n_seeds: int = 500, first_seed: int = 0, batch_size: int = 8,
                      steps: int = 50, device: str = "auto", seed: int = 0) -> pd.DataFrame:
    """The same seeds without guidance (the baseline every region is compared with)."""
    model, device = _setup(diffusion_spec, demo_diffusion, device)
    seeds = list(range(first_seed, first_seed + n_seeds))
    result = sample_in_batches(model, None, seeds=seeds, batch_size=batch_size, steps=steps, scale=0.0,
                               label="braindive unguided")
    ok = result.ok
    pixels = result.uint8()
    table = pd.DataFrame({"seed": seeds, "file": write_pngs(pixels, seeds, ok, out_images),
                          "status": [f or "ok" for f in result.failed]})
    write_tsv(table, out_table)
    n = min(40, len(seeds))
    with atomic_path(out_grid) as tmp:
        image_grid(pixels[:n], columns=10, scale=3).save(tmp, format="png")
    write_sidecar(out_provenance, stage="braindive_unguided",
                  settings=dict(n_seeds=n_seeds, first_seed=first_seed, steps=steps, diffusion=diffusion_spec),
                  seed=seed, diffusion_identity=model.identity)
    return table
