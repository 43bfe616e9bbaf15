"""A small CNN trained once on the procedural world; its category evidence drives true responses.

It has its own architecture and its own seed, different from every model the pipeline fits,
so a fitted encoder can only match it by learning, never by construction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.training import EpochLoop, state_dict_cpu
from cortexplorer.oracle.settings import OracleSettings
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.stimuli.generate import generate_image_set

log = logging.getLogger(__name__)

INPUT_SIZE = 32


class OracleClassifier(nn.Module):
    """Three conv-BN-ReLU-maxpool stages, global average pooling, a linear read-out."""

    def __init__(self, categories: Sequence[str], width: int = 24, temperature: float = 2.0) -> None:
        super().__init__()
        self.categories = list(categories)
        self.width = width
        self.temperature = temperature
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(3):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, len(self.categories))

    @staticmethod
    def preprocess(images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 N×H×W×3 (or float in [0, 1], N×3×H×W) → float N×3×S×S centred at 0.

        Images larger than ``INPUT_SIZE`` are area-averaged down to it: categories of the
        world are recognisable at 32 px, and it keeps training to a minute on two cores.
        """
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(np.ascontiguousarray(images))
        if images.dtype == torch.uint8:
            images = images.permute(0, 3, 1, 2).float() / 255.0
        if images.shape[-1] > INPUT_SIZE:
            images = nn.functional.adaptive_avg_pool2d(images, INPUT_SIZE)
        return (images - 0.5) / 0.25

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))

    @torch.no_grad()
    def evidence(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Category evidence: softmax of logits / temperature, N×C float32 in [0, 1]."""
        return self._batched(images, batch_size, len(self.categories),
                             lambda x: torch.softmax(self(x) / self.temperature, dim=1))

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The read-out's input (globally averaged last conv stage), N × 4·width float32: the feature space in
        which generated images are compared with the world's (a Fréchet distance, as FID uses Inception's)."""
        return self._batched(images, batch_size, self.head.in_features, lambda x: self.features(x).mean(dim=(2, 3)))

    def _batched(self, images: np.ndarray, batch_size: int, width: int, fn) -> np.ndarray:
        self.eval()
        device = next(self.parameters()).device
        out = [fn(self.preprocess(images[i : i + batch_size]).to(device)).cpu().numpy()
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, width), np.float32)

    def config(self) -> dict:
        return {"categories": self.categories, "width": self.width, "temperature": self.temperature}


@dataclass
class TrainedOracle:
    model: OracleClassifier
    metrics: pd.DataFrame  # accuracy on the held-out images: all, then per category
    accuracy: float


def fit_oracle(settings: OracleSettings) -> TrainedOracle:
    """Train the oracle on freshly drawn images of the world and score it on other fresh images."""
    s = settings
    device = resolve_device(s.device)
    categories = list(s.categories)
    torch.manual_seed(s.seed)
    train = generate_image_set(s.n_train, categories=categories, image_size=s.image_size, seed=s.seed,
                               stream="oracle-train", id_prefix="otr")
    heldout = generate_image_set(s.n_heldout, categories=categories, image_size=s.image_size, seed=s.seed,
                                 stream="oracle-heldout", id_prefix="oho")
    index = {c: i for i, c in enumerate(categories)}
    x = OracleClassifier.preprocess(train.images)
    y = torch.tensor([index[c] for c in train.table["category"]])
    model = OracleClassifier(categories, width=s.width, temperature=s.temperature).to(device)
    log.info("training the oracle on %s", device)
    _train(model, x, y, s, device)
    pred = model.evidence(heldout.images).argmax(1)
    truth = np.array([index[c] for c in heldout.table["category"]])
    accuracy = float((pred == truth).mean())
    log.info("oracle held-out accuracy: %.4f on %d images", accuracy, len(truth))
    rows = [{"category": "all", "n_heldout": len(truth), "accuracy": accuracy}]
    for c, i in index.items():
        sel = truth == i
        rows.append({"category": c, "n_heldout": int(sel.sum()), "accuracy": float((pred[sel] == i).mean())})
    return TrainedOracle(model, pd.DataFrame(rows), accuracy)


def _train(model: OracleClassifier, x: torch.Tensor, y: torch.Tensor, s: OracleSettings, device: str) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=s.learning_rate, weight_decay=1e-4)
    steps_per_epoch = int(np.ceil(len(x) / s.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.learning_rate, total_steps=s.epochs * steps_per_epoch)
    rng = make_rng(s.seed, "oracle", "batches")
    correct: list[int] = []

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        xb, yb = x[idx].to(device), y[idx].to(device)
        if rng.random() < 0.5:  # the world is left-right symmetric
            xb = xb.flip(3)
        logits = model(xb)
        correct.append(int((logits.argmax(1) == yb).sum()))
        return nn.functional.cross_entropy(logits, yb)

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        sizes = [min(s.batch_size, len(x) - b * s.batch_size) for b in range(steps_per_epoch)]
        loss = sum(v * n for v, n in zip(losses, sizes, strict=True)) / len(x)
        log.info("oracle epoch %d/%d: loss %.4f, train accuracy %.3f (%d steps)", epoch + 1, s.epochs, loss,
                 sum(correct[-steps_per_epoch:]) / len(x), (epoch + 1) * steps_per_epoch)
        return {"epoch": epoch + 1, "train_loss": loss}

    loop = EpochLoop(model, opt, sched, rng, s.batch_size, steps_per_epoch)
    loop.run(np.arange(len(x)), s.epochs, batch_loss, end_epoch)


def train_oracle(inputs: dict, outputs: dict, settings: OracleSettings) -> float:
    """Stage ``oracle``: train, write the weights (``model``), ``metrics`` and ``provenance``; return the accuracy."""
    s = settings
    fit = fit_oracle(s)
    write_tsv(fit.metrics, outputs["metrics"])
    save_torch({"config": fit.model.config(), "image_size": s.image_size, "state_dict": state_dict_cpu(fit.model)},
               outputs["model"])
    recorded = {k: v for k, v in asdict(s).items() if k not in ("seed", "device")}
    write_sidecar(outputs["provenance"], stage="oracle", settings={**recorded, "categories": list(s.categories)},
                  seed=s.seed, heldout_accuracy=fit.accuracy)
    return fit.accuracy


def load_oracle(path: str | os.PathLike) -> OracleClassifier:
    """Load a trained oracle written by :func:`train_oracle`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Oracle weights '{path}' do not exist; run the oracle rule first.")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = OracleClassifier(**blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model
