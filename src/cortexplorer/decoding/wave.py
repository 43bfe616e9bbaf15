"""A WAVE-style decoder: a small transformer over a trial's window of parcel time series, aligned contrastively with
frozen CLIP image and caption embeddings (Wang et al., arXiv 2411.07121; facts in
``../shared/reference/decoding_wave.md``).

1. Each TR's parcel vector (z-scored per parcel with the training windows' statistics) is one token: a linear map to
   ``width``, plus a learnt position; pre-norm transformer layers; the tokens' mean through a linear head gives the
   embedding in CLIP's joint space.
2. Optional self-supervised pretraining on windows of every run (masked-parcel prediction, as in the foundation model
   WAVE starts from): a share of parcels is hidden in the input and their values at every TR are predicted.
3. Fine-tuning: symmetric InfoNCE (brain ↔ image, brain ↔ caption, averaged), each with its own learnable
   temperature; a batch holds distinct training stimuli, each with one of its trials drawn at random. Augmentations:
   parcel dropout (a random share of parcels set to their mean) and TR shift (the window starts up to ``tr_shift`` TRs
   early or late; stored windows carry that margin on both sides, prediction uses the centre).

A parcel set to 0 after z-scoring sits at its training mean: that is how parcels are dropped, left out of a
network-restricted decoder, and masked in the network ablation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from cortexplorer.models.contrastive import LogitScale, clip_loss
from cortexplorer.models.training import EpochLoop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WaveConfig:
    """The architecture (saved beside the weights, so the model rebuilds from its file)."""

    n_parcels: int
    window: int  # TRs the model sees
    embed_dim: int  # the CLIP space
    width: int = 64
    depth: int = 2
    heads: int = 4
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class WaveDecoder(nn.Module):
    def __init__(self, cfg: WaveConfig):
        super().__init__()
        if cfg.width % cfg.heads:
            raise ValueError(f"decoding.wave.width ({cfg.width}) must be a multiple of .heads ({cfg.heads}).")
        self.cfg = cfg
        self.register_buffer("parcel_mean", torch.zeros(cfg.n_parcels))
        self.register_buffer("parcel_sd", torch.ones(cfg.n_parcels))
        self.embed = nn.Linear(cfg.n_parcels, cfg.width)
        self.position = nn.Parameter(0.02 * torch.randn(cfg.window, cfg.width))
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.embed_dim)
        self.reconstruct = nn.Linear(cfg.width, cfg.n_parcels)  # the pretraining head
        self.image_scale = LogitScale()
        self.text_scale = LogitScale()

    def fit_normalisation(self, windows: np.ndarray) -> None:
        flat = torch.as_tensor(windows, dtype=torch.float32).reshape(-1, self.cfg.n_parcels)
        self.parcel_mean.copy_(flat.mean(0))
        self.parcel_sd.copy_(flat.std(0).clamp_min(1e-6))

    def normalise(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        z = (x - self.parcel_mean) / self.parcel_sd
        return z if keep is None else z * keep.unsqueeze(-2)  # keep: P or B × P, 1 = seen

    def tokens(self, z: torch.Tensor) -> torch.Tensor:
        return self.norm(self.encoder(self.embed(z) + self.position))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """B × window × P windows (% signal change) → B × embed_dim."""
        return self.head(self.tokens(self.normalise(x, keep)).mean(1))


def _keep(n_parcels: int, visible: np.ndarray | None, device: str) -> torch.Tensor:
    keep = torch.ones(n_parcels) if visible is None else torch.as_tensor(np.asarray(visible, bool), dtype=torch.float32)
    if keep.shape != (n_parcels,) or keep.sum() == 0:
        raise ValueError(f"The visible parcels must be a mask of {n_parcels} with at least one set.")
    return keep.to(device)


def _loop(model: nn.Module, n_train: int, batch_size: int, epochs: int, lr: float, rng: np.random.Generator
          ) -> EpochLoop:
    """AdamW with a linear warm-up then cosine decay; full batches only (the contrastive loss depends on their size)."""
    steps = max(1, n_train // batch_size)
    total = max(1, epochs * steps)
    warmup = max(1, total // 20)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: (t + 1) / warmup if t < warmup else 0.5 * (1 + math.cos(math.pi * (t - warmup)
                                                                                 / max(1, total - warmup))))
    return EpochLoop(model, opt, sched, rng, min(batch_size, n_train), steps)


def _crop(x: torch.Tensor, window: int, starts: np.ndarray | int) -> torch.Tensor:
    if isinstance(starts, int | np.integer):
        return x[:, starts:starts + window]
    return torch.stack([x[i, s:s + window] for i, s in enumerate(starts)])


def pretrain(model: WaveDecoder, windows: np.ndarray, *, epochs: int, lr: float, batch_size: int,
             mask_fraction: float, rng: np.random.Generator, device: str, visible: np.ndarray | None = None
             ) -> list[dict]:
    """Masked-parcel prediction on ``windows`` (N × window × P, any windows of the runs; no labels)."""
    x = torch.as_tensor(windows, dtype=torch.float32)
    keep_all = _keep(model.cfg.n_parcels, visible, device)
    n_parcels = model.cfg.n_parcels

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        z = model.normalise(x[idx].to(device), keep_all)
        hide = torch.as_tensor(loop.batches.random((len(idx), n_parcels)) < mask_fraction, device=device)
        hide = hide & (keep_all > 0)
        recon = model.reconstruct(model.tokens(z * (~hide).unsqueeze(1)))
        err = (recon - z) ** 2 * hide.unsqueeze(1)
        return err.sum() / (hide.sum() * z.shape[1]).clamp_min(1)

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        log.info("WAVE pretraining epoch %d/%d: masked-parcel MSE %.3f", epoch + 1, epochs, float(np.mean(losses)))
        return {"phase": "pretrain", "epoch": epoch + 1, "loss": float(np.mean(losses))}

    loop = _loop(model, len(x), batch_size, epochs, lr, rng)
    return loop.run(np.arange(len(x)), epochs, batch_loss, end_epoch)


def finetune(model: WaveDecoder, windows: np.ndarray, trial_stimulus: Sequence[int], image_embeddings: np.ndarray,
             text_embeddings: np.ndarray | None, *, epochs: int, lr: float, batch_size: int, parcel_dropout: float,
             tr_shift: int, rng: np.random.Generator, device: str, visible: np.ndarray | None = None) -> list[dict]:
    """Contrastive fine-tuning on training trials: ``windows`` (N × (window + 2·tr_shift) × P), ``trial_stimulus``
    (each trial's row in the embeddings, S × E). ``visible`` restricts the decoder to a set of parcels."""
    x = torch.as_tensor(windows, dtype=torch.float32)
    if x.shape[1] != model.cfg.window + 2 * tr_shift:
        raise ValueError(f"Fine-tuning windows have {x.shape[1]} TRs; the model sees {model.cfg.window} with a "
                         f"shift of up to {tr_shift} each side, so they need {model.cfg.window + 2 * tr_shift}.")
    trial_stimulus = np.asarray(trial_stimulus)
    image = torch.as_tensor(image_embeddings, dtype=torch.float32)
    text = None if text_embeddings is None else torch.as_tensor(text_embeddings, dtype=torch.float32)
    trials_of = [np.flatnonzero(trial_stimulus == s) for s in range(len(image))]
    stimuli = np.array([s for s, t in enumerate(trials_of) if t.size])
    keep_all = _keep(model.cfg.n_parcels, visible, device)
    n_parcels = model.cfg.n_parcels

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        rows = np.array([loop.batches.choice(trials_of[s]) for s in idx.numpy()])
        starts = loop.batches.integers(0, 2 * tr_shift + 1, len(rows))
        dropped = torch.as_tensor(loop.batches.random((len(rows), n_parcels)) >= parcel_dropout, dtype=torch.float32)
        brain = model(_crop(x[rows], model.cfg.window, starts).to(device), keep_all * dropped.to(device))
        loss = clip_loss(brain, image[idx].to(device), model.image_scale())
        if text is not None:
            loss = 0.5 * (loss + clip_loss(brain, text[idx].to(device), model.text_scale()))
        return loss

    def end_epoch(epoch: int, losses: list[float]) -> dict:
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            log.info("WAVE fine-tuning epoch %d/%d: InfoNCE %.3f (image logit scale %.1f)", epoch + 1, epochs,
                     float(np.mean(losses)), model.image_scale().item())
        return {"phase": "finetune", "epoch": epoch + 1, "loss": float(np.mean(losses))}

    loop = _loop(model, len(stimuli), batch_size, epochs, lr, rng)
    return loop.run(stimuli, epochs, batch_loss, end_epoch)


@torch.no_grad()
def predict(model: WaveDecoder, windows: np.ndarray, *, tr_shift: int, device: str,
            visible: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
    """N × embed_dim predictions from the centre of each stored window; parcels outside ``visible`` at their mean."""
    model.eval()
    keep = _keep(model.cfg.n_parcels, visible, device)
    x = torch.as_tensor(windows, dtype=torch.float32)
    out = [model(_crop(x[i:i + batch_size], model.cfg.window, tr_shift).to(device), keep).cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()
