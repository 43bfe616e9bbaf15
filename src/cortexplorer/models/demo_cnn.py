"""The demo's VGG16-shaped CNN, trained to classify the disjoint image pool's categories.

It stands in for ImageNet VGG16 (whose weights cannot be downloaded here) in the behavioural
models: a conv stack with the same layer sequence and names, whose early layers end up
tuned to local colour and edges and whose late layers to category (measured in the report as
held-out accuracy). Training augments with horizontal flips and small shifts.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.cnn import IMAGENET_MEAN, IMAGENET_STD, DemoVGG
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)


def _augment(x: torch.Tensor, rng: np.random.Generator, shift: int) -> torch.Tensor:
    """Random horizontal flips and circular shifts of up to ``shift`` px (per batch, cheap)."""
    if rng.random() < 0.5:
        x = x.flip(-1)
    if shift:
        dy, dx = (int(v) for v in rng.integers(-shift, shift + 1, size=2))
        x = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    return x


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    hits = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
               for i in range(0, len(x), batch_size))
    return hits / max(1, len(x))


def train_demo_cnn(*, pool_images: str, pool_table: str, out_model: str | os.PathLike, out_curve: str | os.PathLike,
                   out_provenance: str | os.PathLike, seed: int, width: int, epochs: int, batch_size: int,
                   learning_rate: float, heldout_fraction: float, batch_norm: bool = True, hidden: int = 128,
                   device: str = "auto") -> dict[str, float]:
    """Train :class:`DemoVGG` on the pool's categories; write weights, the loss/accuracy curve and provenance."""
    device = resolve_device(device)
    pool = read_image_set(pool_images, pool_table)
    classes = sorted(pool.table["category"].astype(str).unique())
    labels = pool.table["category"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    n = len(pool)
    rng = make_rng(seed, "demo_cnn", "split")
    order = rng.permutation(n)
    n_held = max(1, round(heldout_fraction * n))
    if n - n_held < batch_size:
        raise ValueError(f"The pool has {n} images: too few to train the demo CNN with batch size {batch_size} and "
                         f"{n_held} held out; raise stimuli.n_pool or lower demo_cnn.batch_size.")
    held, train = np.sort(order[:n_held]), np.sort(order[n_held:])
    x = torch.from_numpy(np.ascontiguousarray(pool.images)).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    y = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(seed)
    model = DemoVGG(width, len(classes), batch_norm=batch_norm, hidden=hidden).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=learning_rate, total_steps=total, pct_start=0.15)
    batches = make_rng(seed, "demo_cnn", "batches")
    shift = max(1, pool.images.shape[1] // 16)
    log.info("training the demo CNN (VGG16-shaped, width %d, %s) on %d images of %d categories (%d held out) for "
             "%d epochs × %d steps on %s", width, "batch norm" if batch_norm else "no batch norm", len(train),
             len(classes), n_held, epochs, steps_per_epoch, device)
    curve = []
    for epoch in range(epochs):
        model.train()
        perm = train[batches.permutation(len(train))]
        losses = []
        for b in range(steps_per_epoch):
            idx = torch.from_numpy(perm[b * batch_size:(b + 1) * batch_size])
            xb = _augment(x[idx], batches, shift).to(device)
            loss = torch.nn.functional.cross_entropy(model(xb), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        acc = _accuracy(model, x[held].to(device), y[held].to(device))
        curve.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "heldout_accuracy": acc})
        log.info("demo CNN epoch %d/%d: train loss %.3f, held-out accuracy %.3f", epoch + 1, epochs,
                 curve[-1]["train_loss"], acc)
    write_tsv(pd.DataFrame(curve), out_curve)
    save_torch({"arch": "demo_vgg16", "width": int(width), "batch_norm": bool(batch_norm), "hidden": int(hidden),
                "classes": classes, "image_size": int(pool.images.shape[1]),
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, out_model)
    result = {"heldout_accuracy": curve[-1]["heldout_accuracy"], "chance": float(np.bincount(labels).max() / n)}
    write_sidecar(out_provenance, stage="demo_cnn",
                  settings=dict(width=width, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                heldout_fraction=heldout_fraction, batch_norm=batch_norm, hidden=hidden,
                                n_images=n, classes=classes),
                  seed=seed, **result)
    return result
