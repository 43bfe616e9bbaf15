"""The demo's small pixel-space diffusion model, trained on the disjoint image pool.

A diffusers ``UNet2DModel`` learns the pool's images at ``image_size`` (area-downsampled from the
world's size; 32 px: 64 px would cost ~6× per step, measured), with 1,000 noise levels. The default recipe
(issue 20) is v-prediction, the cosine noise schedule, Min-SNR-5 loss weights and bfloat16 autocast; DDPM's
ε-prediction with the linear schedule (the recipe until 2026-12) samples coloured blobs after the same training
(``benchmarks/demo_diffusion_recipe.py`` trains both). Weights are averaged with an EMA, which samples much
better than the raw weights after a short training run.
Never trained on the fMRI stimuli.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.diffusion import build_pixel_unet, pixel_unet_parts
from cortexplorer.models.settings import DemoDiffusionSettings
from cortexplorer.models.training import state_dict_cpu
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)


def to_model_range(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 N × H × W × 3 → float N × 3 × size × size in [-1, 1] (area averaging when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area" if x.shape[-1] > size else "bilinear")
    return x * 2 - 1


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@dataclass
class TrainedDiffusion:
    unet: Any  # diffusers UNet2DModel holding the EMA weights
    noise_schedule: Any  # the DDPMScheduler it was trained with
    curve: pd.DataFrame  # step, loss (mean over each 50 steps)
    n_parameters: int


def fit_demo_diffusion(data: torch.Tensor, s: DemoDiffusionSettings) -> TrainedDiffusion:
    """Train on ``data`` (N × 3 × size × size in [-1, 1]); the returned UNet holds the EMA weights."""
    from diffusers import DDPMScheduler

    device = resolve_device(s.device)
    channels = tuple(s.channels)
    log.info("demo diffusion: %d pool images at %d px (%d×%d patches), UNet channels %s, %d steps of batch %d on %s",
             len(data), s.image_size, s.patch_size, s.patch_size, channels, s.steps, s.batch_size, device)
    torch.manual_seed(int(make_rng(s.seed, "demo_diffusion", "init").integers(2**31)))
    unet = build_pixel_unet(sample_size=s.image_size, channels=channels, layers_per_block=s.layers_per_block,
                            patch_size=s.patch_size).to(device)
    n_params = sum(p.numel() for p in unet.parameters())
    log.info("UNet2DModel with %.2f M parameters", n_params / 1e6)
    noise_sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=s.noise_schedule,
                                prediction_type=s.prediction_type)
    abar = noise_sched.alphas_cumprod.to(device)
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                              enabled=s.precision == "bfloat16")
    ema = [p.detach().clone() for p in unet.parameters()]
    opt = torch.optim.AdamW(unet.parameters(), lr=s.learning_rate, weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(make_rng(s.seed, "demo_diffusion", "noise").integers(2**31)))
    order = make_rng(s.seed, "demo_diffusion", "batches")
    progress = _Progress(s.steps)
    unet.train()
    for step in range(s.steps):
        idx = torch.from_numpy(order.integers(0, len(data), s.batch_size))
        x0 = data[idx].to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (s.batch_size,), generator=gen).to(device)
        a = abar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with autocast:
            out = unet(xt, t).sample.float()
        loss = diffusion_loss(out, x0, noise, a, s.prediction_type, s.snr_gamma)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"demo diffusion training diverged at step {step} (loss {loss.item()}); "
                                     "lower demo_diffusion.learning_rate.")
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, s.steps, s.learning_rate, s.warmup_steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        decay = min(s.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, unet.parameters(), strict=True):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        progress.record(step, loss.item())
    with torch.no_grad():
        for e, p in zip(ema, unet.parameters(), strict=True):
            p.copy_(e)
    unet.eval()
    return TrainedDiffusion(unet, noise_sched, pd.DataFrame(progress.rows), n_params)


def diffusion_loss(out: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, abar: torch.Tensor,
                   prediction_type: str, snr_gamma: float | None) -> torch.Tensor:
    """Mean squared error of the UNet's output against its target (ε, or v = √ᾱ ε − √(1−ᾱ) x0), each image
    weighted by Min-SNR-γ when ``snr_gamma`` is set: min(SNR, γ)/SNR for ε, min(SNR, γ)/(SNR + 1) for v, which
    is the same weight on the implied x0 error (SNR = ᾱ / (1 − ᾱ))."""
    if prediction_type == "epsilon":
        target = noise
    elif prediction_type == "v_prediction":
        target = abar.sqrt() * noise - (1 - abar).sqrt() * x0
    else:
        raise ValueError(f"demo_diffusion.prediction_type must be 'epsilon' or 'v_prediction', not {prediction_type!r}.")
    if snr_gamma is None:
        return torch.nn.functional.mse_loss(out, target)
    per_image = (out - target).pow(2).mean(dim=(1, 2, 3))
    snr = (abar / (1 - abar)).view(-1)
    clipped = torch.clamp(snr, max=snr_gamma)
    weight = clipped / snr if prediction_type == "epsilon" else clipped / (snr + 1)
    return (weight * per_image).mean()


class _Progress:
    """The loss curve (mean of each 50 steps) and a log line every 5 % of the steps."""

    def __init__(self, steps: int) -> None:
        self.steps, self.rows, self.window, self.recent = steps, [], [], []
        self.start = time.perf_counter()

    def record(self, step: int, loss: float) -> None:
        self.window.append(loss)
        self.recent.append(loss)
        if (step + 1) % 50 == 0 or step + 1 == self.steps:
            self.rows.append({"step": step + 1, "loss": float(np.mean(self.window))})
            self.window = []
        if (step + 1) % max(1, self.steps // 20) == 0:
            spent = time.perf_counter() - self.start
            log.info("step %d/%d  loss %.4f  (%.0f s, about %.0f s left)", step + 1, self.steps,
                     np.mean(self.recent[-50:]), spent, spent / (step + 1) * (self.steps - step - 1))


def train_demo_diffusion(inputs: dict, outputs: dict, settings: DemoDiffusionSettings) -> pd.DataFrame:
    """Stage ``demo_diffusion``: train on the pool (``images``, ``table``); write ``model`` (EMA weights + configs),
    the loss ``curve`` and ``provenance`` (rule ``demo_prior`` samples and judges it)."""
    s = settings
    start = time.perf_counter()
    data = to_model_range(read_image_set(inputs["images"], inputs["table"]).images, s.image_size)
    fit = fit_demo_diffusion(data, s)
    save_torch(weights_blob(fit, s.image_size), outputs["model"])
    write_tsv(fit.curve, outputs["curve"])
    recorded = {k: v for k, v in asdict(s).items() if k not in ("seed", "device")}
    write_sidecar(outputs["provenance"], stage="demo_diffusion", settings={**recorded, "channels": list(s.channels)},
                  seed=s.seed, n_parameters=fit.n_parameters, n_pool_images=len(data),
                  final_loss=float(fit.curve["loss"].iloc[-1]), seconds=round(time.perf_counter() - start, 1))
    return fit.curve


def weights_blob(fit: TrainedDiffusion, image_size: int) -> dict:
    """What the demo's weight file holds (read back by :func:`cortexplorer.models.diffusion.pixel_diffusion`): the
    inner UNet's config and EMA weights, the training noise schedule, the image side and, for a patch UNet only,
    ``patch_size`` (a plain pixel UNet's file is as before patches existed)."""
    unet, patch = pixel_unet_parts(fit.unet)
    blob = {"unet_config": _plain(unet.config), "state_dict": state_dict_cpu(unet),
            "scheduler_config": _plain(fit.noise_schedule.config), "image_size": int(image_size)}
    if patch > 1:
        blob["patch_size"] = patch
    return blob


def _plain(cfg) -> dict:
    """A diffusers FrozenDict as plain types (loadable with ``weights_only=True``), without its private keys
    (``_use_default_values`` is in set order, which changes between processes and would change the bytes)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(cfg).items() if not k.startswith("_")}
