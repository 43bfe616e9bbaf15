"""The demo's small pixel-space diffusion model, trained on the disjoint image pool.

A diffusers ``UNet2DModel`` (ε-prediction, DDPM linear noise schedule, 1,000 training steps)
learns the pool's images at ``image_size`` (area-downsampled from the world's size; 32 px keeps
training to about 12 minutes on two cores: 64 px would cost ~6× per step, measured). Weights are
averaged with an EMA, which samples much better than the raw weights after a short training run.
Never trained on the fMRI stimuli.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import torch

from cortexplorer.device import resolve as resolve_device
from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models.diffusion import build_pixel_unet
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


def train_demo_diffusion(*, pool_images: str, pool_table: str, out_model: str, out_curve: str, out_samples: str,
                         out_provenance: str, seed: int, image_size: int = 32, channels: list[int] | None = None,
                         layers_per_block: int = 1, steps: int = 3000, batch_size: int = 32,
                         learning_rate: float = 5e-4, warmup_steps: int = 100, ema_decay: float = 0.999,
                         n_samples: int = 64, sample_steps: int = 25, device: str = "auto") -> pd.DataFrame:
    """Train, write ``model.pt`` (EMA weights + configs), the loss curve and a grid of unguided samples."""
    from diffusers import DDPMScheduler

    device = resolve_device(device)
    channels = tuple(channels or (32, 64, 64))
    pool = read_image_set(pool_images, pool_table)
    data = to_model_range(pool.images, image_size)
    log.info("demo diffusion: %d pool images at %d px, UNet channels %s, %d steps of batch %d on %s",
             len(data), image_size, channels, steps, batch_size, device)
    torch.manual_seed(int(make_rng(seed, "demo_diffusion", "init").integers(2**31)))
    unet = build_pixel_unet(sample_size=image_size, channels=channels, layers_per_block=layers_per_block).to(device)
    n_params = sum(p.numel() for p in unet.parameters())
    log.info("UNet2DModel with %.2f M parameters", n_params / 1e6)
    noise_sched = DDPMScheduler(num_train_timesteps=1000)
    abar = noise_sched.alphas_cumprod.to(device)
    ema = [p.detach().clone() for p in unet.parameters()]
    opt = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=0.0)
    gen = torch.Generator().manual_seed(int(make_rng(seed, "demo_diffusion", "noise").integers(2**31)))
    order = make_rng(seed, "demo_diffusion", "batches")
    rows, window, recent, start = [], [], [], time.perf_counter()
    unet.train()
    for step in range(steps):
        idx = torch.from_numpy(order.integers(0, len(data), batch_size))
        x0 = data[idx].to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (batch_size,), generator=gen).to(device)
        a = abar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(xt, t).sample, noise)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"demo diffusion training diverged at step {step} (loss {loss.item()}); "
                                     "lower demo_diffusion.learning_rate.")
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, learning_rate, warmup_steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, unet.parameters(), strict=True):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        window.append(loss.item())
        recent.append(window[-1])
        if (step + 1) % 50 == 0 or step + 1 == steps:
            rows.append({"step": step + 1, "loss": float(np.mean(window))})
            window = []
        if (step + 1) % max(1, steps // 20) == 0:
            spent = time.perf_counter() - start
            log.info("step %d/%d  loss %.4f  (%.0f s, about %.0f s left)", step + 1, steps, np.mean(recent[-50:]),
                     spent, spent / (step + 1) * (steps - step - 1))
    with torch.no_grad():
        for e, p in zip(ema, unet.parameters(), strict=True):
            p.copy_(e)
    unet.eval()
    curve = pd.DataFrame(rows)
    blob = {"unet_config": _plain(unet.config), "state_dict": {k: v.cpu() for k, v in unet.state_dict().items()},
            "scheduler_config": _plain(noise_sched.config), "image_size": int(image_size)}
    save_torch(blob, out_model)
    write_tsv(curve, out_curve)
    _sample_grid(out_model, out_samples, n_samples, sample_steps, device)
    write_sidecar(out_provenance, stage="demo_diffusion",
                  settings=dict(image_size=image_size, channels=list(channels), layers_per_block=layers_per_block,
                                steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                                warmup_steps=warmup_steps, ema_decay=ema_decay),
                  seed=seed, n_parameters=n_params, n_pool_images=len(data), final_loss=rows[-1]["loss"],
                  seconds=round(time.perf_counter() - start, 1))
    return curve


def _plain(cfg) -> dict:
    """A diffusers FrozenDict as plain types (loadable with ``weights_only=True``), without its private keys
    (``_use_default_values`` is in set order, which changes between processes and would change the bytes)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(cfg).items() if not k.startswith("_")}


def _sample_grid(model_path: str, out_png: str, n: int, steps: int, device: str) -> None:
    from cortexplorer.braindive.guidance import sample
    from cortexplorer.models.diffusion import load_demo_diffusion
    from cortexplorer.report.figures import image_grid

    model = load_demo_diffusion(model_path, device=device)
    result = sample(model, None, seeds=list(range(n)), steps=steps, scale=0.0, progress=False)
    with atomic_path(out_png) as tmp:
        image_grid(result.uint8(), columns=math.ceil(math.sqrt(n)), scale=2).save(tmp, format="png")
