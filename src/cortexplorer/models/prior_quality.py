"""Does an unguided diffusion prior look like the world it was trained on? (the demo's judge of its image prior)

Every BrainDiVE and BrainSCUBA number stands on the prior: guidance only moves samples within what
the prior can draw. So the demo's unguided samples are compared with fresh images of the same world
(drawn like the pool it was trained on, from their own random stream), by two classifiers that
never saw a generated image:

- the oracle's category distribution on the samples against its distribution on the world images
  (total-variation distance), and its confidence (mean top-class probability) on both;
- a second, independent judge (the demo CNN: another architecture, other training) agreeing with
  the oracle's label on each sample;
- the Fréchet distance between the two sets in the oracle's feature space (FID's formula with the
  oracle in place of Inception), beside the same distance between two halves of the world images:
  the floor a perfect prior reaches with this many images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import linalg

from cortexplorer.braindive.guidance import sample
from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.tables import write_tsv
from cortexplorer.models.cnn import load_network
from cortexplorer.models.demo_diffusion import to_model_range
from cortexplorer.models.diffusion import DiffusionModel, load_demo_diffusion
from cortexplorer.models.settings import PriorJudgeSettings
from cortexplorer.oracle import OracleClassifier, load_oracle
from cortexplorer.provenance import write_sidecar
from cortexplorer.report.figures import image_grid
from cortexplorer.stimuli.generate import generate_image_set


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) between Gaussians fitted to the rows of ``a`` and ``b``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"Fréchet distance needs two sets of ≥ 2 feature rows of one width, not {a.shape} and {b.shape}.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product: offset both, as FID's reference code does
        offset = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = np.real(root)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def total_variation(p: pd.Series, q: pd.Series) -> float:
    """½ Σ |p − q| over the union of the two distributions' categories."""
    p, q = p.align(q, fill_value=0.0)
    return float(0.5 * np.abs(p - q).sum())


def label_distribution(labels: Sequence[str], categories: Sequence[str]) -> pd.Series:
    counts = pd.Series(list(labels), dtype=object).value_counts()
    return (counts.reindex(list(categories), fill_value=0) / max(1, len(labels))).astype(float)


@dataclass(frozen=True)
class PriorQuality:
    """The numbers of one prior, and the per-category shares behind the distance."""

    summary: pd.DataFrame  # one row per measure: measure, samples, world (the world images), bar
    categories: pd.DataFrame  # category, samples share, world share (oracle labels)


def prior_quality(samples: np.ndarray, world: np.ndarray, *, categories: Sequence[str],
                  oracle_probabilities: Callable[[np.ndarray], np.ndarray],
                  oracle_features: Callable[[np.ndarray], np.ndarray],
                  second_judge: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> PriorQuality:
    """Compare unguided ``samples`` with ``world`` images the prior never saw (both uint8 N × H × W × 3).

    ``oracle_probabilities`` gives N × len(categories) probabilities, ``oracle_features`` N × D features,
    ``second_judge`` N category names. The floor of the Fréchet distance splits ``world`` in two random
    halves (``seed``) and the samples are compared with the second half, so both distances are taken
    between sets of about the same size when ``world`` holds twice as many images as ``samples`` (the
    distance is biased upwards by small sets).
    """
    if len(samples) < 4 or len(world) < 4:
        raise ValueError(f"Judging a prior needs ≥ 4 samples and ≥ 4 world images, not {len(samples)} and {len(world)}.")
    categories = list(categories)
    p_samples, p_world = oracle_probabilities(samples), oracle_probabilities(world)
    lab_samples = np.asarray(categories, dtype=object)[p_samples.argmax(1)]
    lab_world = np.asarray(categories, dtype=object)[p_world.argmax(1)]
    dist_samples, dist_world = label_distribution(lab_samples, categories), label_distribution(lab_world, categories)
    agree_samples = float(np.mean(np.asarray(second_judge(samples), dtype=object) == lab_samples))
    agree_world = float(np.mean(np.asarray(second_judge(world), dtype=object) == lab_world))
    f_samples, f_world = oracle_features(samples), oracle_features(world)
    order = np.random.default_rng(seed).permutation(len(world))
    half_a, half_b = order[: len(world) // 2], order[len(world) // 2 :]
    fd_samples = frechet_distance(f_samples, f_world[half_b])
    fd_floor = frechet_distance(f_world[half_a], f_world[half_b])
    rows = [
        ("category total variation (oracle)", total_variation(dist_samples, dist_world), 0.0, "≤ 0.10"),
        ("mean top-class probability (oracle)", float(p_samples.max(1).mean()), float(p_world.max(1).mean()),
         "within 0.05 of the world's"),
        ("second judge agrees with the oracle", agree_samples, agree_world, "≥ 0.80"),
        ("Fréchet distance in oracle features", fd_samples, fd_floor, "world: two halves (the floor)"),
        ("images", float(len(samples)), float(len(world)), ""),
    ]
    summary = pd.DataFrame(rows, columns=["measure", "samples", "world", "bar"])
    table = pd.DataFrame({"category": categories, "samples": dist_samples.to_numpy(), "world": dist_world.to_numpy()})
    return PriorQuality(summary, table)


def world_images(s: PriorJudgeSettings) -> np.ndarray:
    """Fresh images of the demo world, drawn like the pool but from their own random stream: images the prior
    never saw, of the distribution it was trained on (at the world's size; see :func:`at_prior_resolution`)."""
    return generate_image_set(s.n_world, categories=list(s.categories), image_size=s.image_size, seed=s.seed,
                              stream="prior-world", id_prefix="prw").images


def at_prior_resolution(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 images as the prior was trained on them (area-averaged to ``size``, as ``to_model_range`` does), so
    that world and samples reach the judges at one resolution: a 32-px prior is not marked down for being 32 px."""
    x = (to_model_range(images, size) + 1) / 2
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def cnn_labeller(cnn, classes: Sequence[str], size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Category names from a classifier :class:`~cortexplorer.models.cnn.Cnn` for uint8 images, resized
    (bilinear) to the ``size`` it was trained on."""
    names = np.asarray(list(classes), dtype=object)

    @torch.no_grad()
    def label(images: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images), 256):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + 256])).permute(0, 3, 1, 2).float() / 255.0
            if x.shape[-1] != size:
                x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            out.append(cnn(x.to(cnn.mean.device)).argmax(1).cpu().numpy())
        return names[np.concatenate(out)] if out else np.zeros(0, dtype=object)

    return label


def load_demo_cnn(weights: str, device: str):
    """The demo CNN (rule ``demo_cnn``'s weights) as a :class:`~cortexplorer.models.cnn.Cnn` classifier."""
    return load_network("democnn", {"kind": "demo_cnn", "arch": "demo_vgg16"}, demo_weights=weights, device=device)


def demo_cnn_labeller(weights: str, size: int, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """Category names by the demo CNN (the second judge of generated images) for uint8 images, resized to the
    world's ``size`` it was trained on."""
    cnn = load_demo_cnn(weights, device)
    return cnn_labeller(cnn, cnn.identity["classes"], size)


def judge_prior(model: DiffusionModel, oracle: OracleClassifier, cnn, s: PriorJudgeSettings
                ) -> tuple[np.ndarray, PriorQuality]:
    """``n_samples`` unguided samples (seeds 0, 1, ...) of ``model`` and their :func:`prior_quality` against fresh
    world images at the model's resolution, judged by ``oracle`` and the classifier ``cnn`` (the demo CNN)."""
    world = at_prior_resolution(world_images(s), model.sample_shape[-1])
    samples = sample(model, None, seeds=list(range(s.n_samples)), steps=s.steps, scale=0.0, label="prior").uint8()
    quality = prior_quality(samples, world, categories=oracle.categories, oracle_probabilities=oracle.evidence,
                            oracle_features=oracle.embed,
                            second_judge=cnn_labeller(cnn, cnn.identity["classes"], s.image_size), seed=s.seed)
    return samples, quality


def judge_demo_prior(inputs: dict, outputs: dict, settings: PriorJudgeSettings) -> PriorQuality:
    """Stage ``demo_prior``: judge the demo diffusion model (``model``) with the ``oracle`` and the demo CNN
    (``demo_cnn``, see :func:`judge_prior`); write ``quality``, ``categories``, a grid of the first 64 ``samples``
    and ``provenance``."""
    s = settings
    device = resolve_device(s.device)
    cnn = load_demo_cnn(inputs["demo_cnn"], device)
    samples, quality = judge_prior(load_demo_diffusion(inputs["model"], device=device), load_oracle(inputs["oracle"]),
                                   cnn, s)
    write_tsv(quality.summary, outputs["quality"])
    write_tsv(quality.categories, outputs["categories"])
    shown = samples[:64]
    with atomic_path(outputs["samples"]) as tmp:
        image_grid(shown, columns=math.ceil(math.sqrt(len(shown))), scale=2).save(tmp, format="png")
    write_sidecar(outputs["provenance"], stage="demo_prior",
                  settings={"n_samples": s.n_samples, "steps": s.steps, "n_world": s.n_world}, seed=s.seed)
    return quality
