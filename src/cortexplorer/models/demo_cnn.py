"""The demo's VGG16-shaped CNN, trained to classify the disjoint image pool's categories.

It stands in for ImageNet VGG16 (whose weights cannot be downloaded here) in the behavioural
models: a conv stack with the same layer sequence and names, whose early layers end up
tuned to local colour and edges and whose late layers to category (measured in the report as
held-out accuracy). Training augments with horizontal flips and small shifts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.cnn import IMAGENET_MEAN, IMAGENET_STD, DemoVGG
from cortexplorer.models.settings import DemoCnnSettings
from cortexplorer.models.training import EpochLoop, heldout_split, state_dict_cpu
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)


def _augment(x: torch.Tensor, rng: np.random.Generator, shift: int, lowres_fraction: float = 0.0) -> torch.Tensor:
    """Random horizontal flips and circular shifts of up to ``shift`` px (per batch, cheap); a ``lowres_fraction``
    of the batches is seen at half resolution (:func:`half_resolution`)."""
    if rng.random() < 0.5:
        x = x.flip(-1)
    if shift:
        dy, dx = (int(v) for v in rng.integers(-shift, shift + 1, size=2))
        x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    if lowres_fraction and rng.random() < lowres_fraction:
        x = half_resolution(x)
    return x


def half_resolution(x: torch.Tensor) -> torch.Tensor:
    """N × C × H × W images area-averaged to half their side and resized back (bilinear): what the CNN sees of an
    image made at half its resolution (the demo prior's 32 px), as :func:`~cortexplorer.models.prior_quality.cnn_labeller`
    resizes it."""
    h, w = x.shape[-2:]
    small = torch.nn.functional.interpolate(x, size=(h // 2, w // 2), mode="area")
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    hits = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
               for i in range(0, len(x), batch_size))
    return hits / max(1, len(x))


@dataclass
class TrainedCnn:
    model: DemoVGG
    classes: list[str]
    curve: pd.DataFrame  # epoch, train_loss, heldout_accuracy
    chance: float  # share of the most frequent class


def fit_demo_cnn(pool: ImageSet, s: DemoCnnSettings) -> TrainedCnn:
    """Train :class:`DemoVGG` on the pool's categories, scoring held-out accuracy after each epoch."""
    device = resolve_device(s.device)
    classes = sorted(pool.table["category"].astype(str).unique())
    labels = pool.table["category"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    n = len(pool)
    held, train = heldout_split(
        n, s.heldout_fraction, make_rng(s.seed, "demo_cnn", "split"), minimum=1, batch_size=s.batch_size,
        too_few="The pool has {n} images: too few to train the demo CNN with batch size {batch_size} and {n_held} "
                "held out; raise stimuli.n_pool or lower demo_cnn.batch_size.")
    x = torch.from_numpy(np.ascontiguousarray(pool.images)).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    y = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(s.seed)
    model = DemoVGG(s.width, len(classes), batch_norm=s.batch_norm, hidden=s.hidden).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.learning_rate, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train) / s.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.learning_rate, total_steps=s.epochs * steps_per_epoch,
                                                pct_start=0.15)
    loop = EpochLoop(model, opt, sched, make_rng(s.seed, "demo_cnn", "batches"), s.batch_size, steps_per_epoch)
    shift = max(1, pool.images.shape[1] // 16)
    log.info("training the demo CNN (VGG16-shaped, width %d, %s) on %d images of %d categories (%d held out) for "
             "%d epochs × %d steps on %s", s.width, "batch norm" if s.batch_norm else "no batch norm", len(train),
             len(classes), len(held), s.epochs, steps_per_epoch, device)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        xb = _augment(x[idx], loop.batches, shift, s.lowres_fraction).to(device)
        return torch.nn.functional.cross_entropy(model(xb), y[idx].to(device))

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        acc = _accuracy(model, x[held].to(device), y[held].to(device))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "heldout_accuracy": acc}
        log.info("demo CNN epoch %d/%d: train loss %.3f, held-out accuracy %.3f", epoch + 1, s.epochs,
                 row["train_loss"], acc)
        return row

    curve = loop.run(train, s.epochs, batch_loss, end_epoch)
    return TrainedCnn(model, classes, pd.DataFrame(curve), float(np.bincount(labels).max() / n))


def train_demo_cnn(inputs: dict, outputs: dict, settings: DemoCnnSettings) -> dict[str, float]:
    """Stage ``demo_cnn``: train on the pool (``images``, ``table``); write ``model``, ``curve`` and ``provenance``."""
    s = settings
    pool = read_image_set(inputs["images"], inputs["table"])
    fit = fit_demo_cnn(pool, s)
    write_tsv(fit.curve, outputs["curve"])
    save_torch({"arch": "demo_vgg16", "width": int(s.width), "batch_norm": bool(s.batch_norm), "hidden": int(s.hidden),
                "classes": fit.classes, "image_size": int(pool.images.shape[1]),
                "state_dict": state_dict_cpu(fit.model)}, outputs["model"])
    result = {"heldout_accuracy": float(fit.curve["heldout_accuracy"].iloc[-1]), "chance": fit.chance}
    recorded = {k: v for k, v in asdict(s).items() if k not in ("seed", "device")}
    write_sidecar(outputs["provenance"], stage="demo_cnn",
                  settings={**recorded, "n_images": len(pool), "classes": fit.classes}, seed=s.seed, **result)
    return result
