"""Brain-guided sampling (BrainDiVE), written once for latent and pixel diffusion and any score.

At every DPM-Solver++ step ``t`` (no text prompt, no classifier-free guidance), with
``ᾱ = alphas_cumprod[t]``:

1. ``ε = ε_θ(x_t, t)`` with gradients on (v-prediction models are converted to ε);
2. the clean-sample prediction ``x̂0 = (x_t − √(1−ᾱ) ε) / √ᾱ`` is blended with the current sample,
   ``x_mix = √(1−ᾱ) x̂0 + (1 − √(1−ᾱ)) x_t`` (BrainDiVE's ``cond_fn``);
3. ``x_mix`` is decoded (VAE decoder or identity), resized and normalised for the backbone,
   embedded, unit-normalised and read out by the encoder: ``S(x_t)`` is a score per image, e.g.
   the mean predicted response over a region's voxels;
4. ``g = ∇_{x_t} γ S(x_t)`` and the noise prediction is corrected, ``ε ← ε − √(1−ᾱ) g``
   (classifier guidance, Dhariwal & Nichol); the scheduler then steps with the corrected ε.

With ``sag_scale`` > 0, self-attention guidance (:class:`SelfAttentionGuidance`) corrects the
prediction before step 4, as BrainDiVE's released sampler (SAG 0.75 with the brain gradient) does.

With ``γ = 0`` no gradient is computed and the loop is diffusers' own unguided sampler (same
initial noise per seed, same scheduler calls): tested to reproduce ``DDPMPipeline`` and
``StableDiffusionPipeline`` exactly. Each image's initial noise comes from its own seed, so an
image does not depend on the batch it was sampled in. An image whose score, gradient or sample
becomes non-finite is stopped (its seed is reported) while the others go on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from cortexplorer.encoder.model import ImageEncoder, VoxelEncoder
from cortexplorer.models.diffusion import DiffusionModel

log = logging.getLogger(__name__)

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # images N × 3 × H × W in [0, 1] → N scores


class RegionScore(torch.nn.Module):
    """Mean predicted response over a region's voxels: ``mean_v (W_v · φ(x)/‖φ(x)‖ + b_v)``."""

    def __init__(self, backbone: torch.nn.Module, encoder: VoxelEncoder, voxels: np.ndarray | Sequence[int]):
        super().__init__()
        self.model = ImageEncoder(backbone, encoder.select(np.asarray(voxels)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).mean(dim=1)


class ContrastScore(torch.nn.Module):
    """``a(x) − weight · b(x)``: drive one region (or text) more than another."""

    def __init__(self, a: torch.nn.Module, b: torch.nn.Module, weight: float = 1.0):
        super().__init__()
        self.a, self.b, self.weight = a, b, float(weight)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.a(images) - self.weight * self.b(images)


class TextScore(torch.nn.Module):
    """Cosine between the image embedding and a (unit-normalised) text embedding."""

    def __init__(self, backbone: torch.nn.Module, text_embedding: torch.Tensor):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("text", torch.nn.functional.normalize(text_embedding.reshape(1, -1).float(), dim=-1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        emb = torch.nn.functional.normalize(self.backbone(images).float(), dim=-1)
        return (emb * self.text).sum(-1)


class AugmentedScore(torch.nn.Module):
    """The mean score over ``n`` random crops (zoom ``min_scale``–1, anywhere inside the image) with random
    horizontal flips: the "cutouts" of CLIP-guided diffusion, from which BrainDiVE's ``cond_fn`` descends. Guiding
    through them rewards what the region responds to anywhere in the image rather than pixel patterns that
    fool the encoder at one position. Every image of a batch gets the same crops, drawn from a generator
    restarted by :meth:`reset` (``sample`` calls it), so an image still depends only on its seed."""

    def __init__(self, score_fn: torch.nn.Module, n: int, min_scale: float = 0.8, seed: int = 0):
        super().__init__()
        self.score_fn, self.n, self.min_scale, self.seed = score_fn, int(n), float(min_scale), int(seed)
        self.reset()

    def reset(self) -> None:
        self._gen = torch.Generator().manual_seed(self.seed)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        total = 0
        for _ in range(self.n):
            u = torch.rand(4, generator=self._gen, dtype=torch.float64).tolist()
            zoom = self.min_scale + (1 - self.min_scale) * u[0]
            tx, ty = (2 * u[1] - 1) * (1 - zoom), (2 * u[2] - 1) * (1 - zoom)
            flip = -1.0 if u[3] < 0.5 else 1.0
            theta = torch.tensor([[zoom * flip, 0.0, tx], [0.0, zoom, ty]], dtype=images.dtype, device=images.device)
            grid = torch.nn.functional.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape),
                                                   align_corners=False)
            total = total + self.score_fn(torch.nn.functional.grid_sample(images, grid, mode="bilinear",
                                                                          padding_mode="reflection",
                                                                          align_corners=False))
        return total / self.n


@dataclass
class SampleResult:
    """Final images (N × 3 × H × W in [0, 1], float32, CPU) with their seeds; ``failed[i]`` says why image i was
    stopped (empty when it finished)."""

    images: torch.Tensor
    seeds: list[int]
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> np.ndarray:
        return np.array([not f for f in self.failed], dtype=bool)

    def uint8(self) -> np.ndarray:
        """N × H × W × 3 uint8 (NaN pixels of failed images become 0)."""
        x = torch.nan_to_num(self.images, nan=0.0).clamp(0, 1)
        return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_epsilon(output: torch.Tensor, x: torch.Tensor, abar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """The noise ε that the denoiser's ``output`` implies for the noisy sample ``x`` = √ᾱ x0 + √(1−ᾱ) ε
    (v-prediction: v = √ᾱ ε − √(1−ᾱ) x0, so ε = √ᾱ v + √(1−ᾱ) x)."""
    if prediction_type == "epsilon":
        return output
    if prediction_type == "v_prediction":
        return abar.sqrt() * output + (1 - abar).sqrt() * x
    raise ValueError(f"Guidance supports epsilon and v_prediction models, not {prediction_type!r}.")


def from_epsilon(eps: torch.Tensor, x: torch.Tensor, abar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """The denoiser output that implies the noise ``eps`` for the noisy sample ``x`` (the inverse of
    :func:`to_epsilon`; v-prediction: with x0 = (x − √(1−ᾱ) ε)/√ᾱ, v = √ᾱ ε − √(1−ᾱ) x0 = (ε − √(1−ᾱ) x)/√ᾱ)."""
    if prediction_type == "epsilon":
        return eps
    if prediction_type == "v_prediction":
        return (eps - (1 - abar).sqrt() * x) / abar.sqrt()
    raise ValueError(f"Guidance supports epsilon and v_prediction models, not {prediction_type!r}.")


def blended_score(model: DiffusionModel, score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor, abar: torch.Tensor,
                  model_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S(x_t), ε)``: the score of the decoded blend of ``x̂0`` and ``x_t`` (differentiable in ``x``)."""
    out = model.denoise(x if model_input is None else model_input, t)
    eps = to_epsilon(out, x, abar, model.prediction_type)
    s = (1 - abar).sqrt()
    x0 = (x - s * eps) / abar.sqrt()
    x_mix = s * x0 + (1 - s) * x
    return score_fn(model.decoder(x_mix)), eps


def guidance_gradient(model: DiffusionModel, score_fn: ScoreFn, x: torch.Tensor, t: torch.Tensor,
                      abar: torch.Tensor, scale: float, scheduler=None):
    """``(ε, ∇_x γ S(x), S(x))`` at one step (``x`` is the unscaled sample)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        model_input = scheduler.scale_model_input(xg, t) if scheduler is not None else xg
        score, eps = blended_score(model, score_fn, xg, t, abar, model_input)
        (grad,) = torch.autograd.grad((score * scale).sum(), xg)
    return eps.detach(), grad.detach(), score.detach()


class _KeepAttention:
    """diffusers' classic attention processor (an explicit softmax), keeping the attention probabilities it computes
    (what ``StableDiffusionSAGPipeline``'s ``CrossAttnStoreProcessor`` does, in the same operations)."""

    def __init__(self):
        from diffusers.models.attention_processor import AttnProcessor

        self.base = AttnProcessor()
        self.probs: torch.Tensor | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args,
                 **kwargs):
        scores = attn.get_attention_scores

        def keep(query, key, attention_mask=None):
            self.probs = scores(query, key, attention_mask)
            return self.probs

        attn.get_attention_scores = keep
        try:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        finally:
            del attn.get_attention_scores


def gaussian_blur(x: torch.Tensor, kernel_size: int = 9, sigma: float = 1.0) -> torch.Tensor:
    """A separable Gaussian blur per channel with reflected borders (SAG's degradation, as diffusers writes it)."""
    half = (kernel_size - 1) * 0.5
    pdf = torch.exp(-0.5 * (torch.linspace(-half, half, steps=kernel_size) / sigma).pow(2))
    k1 = (pdf / pdf.sum()).to(device=x.device, dtype=x.dtype)
    kernel = torch.mm(k1[:, None], k1[None, :]).expand(x.shape[-3], 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, [pad] * 4, mode="reflect"), kernel,
                                      groups=x.shape[-3])


class SelfAttentionGuidance:
    """Self-attention guidance (SAG; Hong et al. 2023), as BrainDiVE's sampler runs it (``sag_scale``, no prompt,
    no classifier-free guidance): at each step the clean-sample prediction is blurred where the UNet's middle
    self-attention looks most (keys whose attention, averaged over heads and summed over queries, exceeds 1),
    noised back to ``t`` with the predicted noise, denoised again, and the output is pushed away from that
    degraded prediction, ``out ← out + s (out − out_degraded)``.

    Used as a context manager around the sampling loop: the middle block's first self-attention computes with an
    explicit softmax whose probabilities are kept (restored on exit). Latent (Stable Diffusion) and pixel
    (``UNet2DModel``, also on patches) models; a UNet without self-attention in its middle block is refused."""

    def __init__(self, model: DiffusionModel, scale: float, scheduler):
        from cortexplorer.models.diffusion import pixel_unet_parts

        unet, _ = pixel_unet_parts(model.unet)
        attentions = getattr(getattr(unet, "mid_block", None), "attentions", None)
        if not attentions or attentions[0] is None:
            raise ValueError("Self-attention guidance needs self-attention in the UNet's middle block, which this "
                             "diffusion model lacks; set braindive.sag_scale to 0.")
        self.block = attentions[0]
        self.attn = self.block.transformer_blocks[0].attn1 if hasattr(self.block, "transformer_blocks") else self.block
        self.model, self.scale, self.scheduler = model, float(scale), scheduler
        self.store = _KeepAttention()
        self.map_size: tuple[int, int] | None = None

    def __enter__(self) -> SelfAttentionGuidance:
        self._processor = self.attn.processor
        self.attn.processor = self.store

        def size(module, inputs, output):
            self.map_size = tuple(output[0].shape[-2:])

        self._hook = self.block.register_forward_hook(size)
        return self

    def __exit__(self, *exc) -> None:
        self.attn.processor = self._processor
        self._hook.remove()

    def _degraded_output(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The denoiser's output on ``x0`` blurred under the last self-attention map and noised back to ``t``."""
        probs = self.store.probs.detach()
        b, c, h, w = x0.shape
        attn = probs.reshape(b, self.attn.heads, probs.shape[1], probs.shape[2])
        mask = attn.mean(1, keepdim=False).sum(1, keepdim=False) > 1.0
        mask = mask.reshape(b, *self.map_size).unsqueeze(1).repeat(1, c, 1, 1).type(attn.dtype)
        mask = torch.nn.functional.interpolate(mask, (h, w))
        degraded = gaussian_blur(x0) * mask + x0 * (1 - mask)
        degraded = self.scheduler.add_noise(degraded, noise=eps, timesteps=t[None])
        with torch.no_grad():
            return self.model.denoise(degraded, t)

    def correct_output(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The SAG-corrected denoiser output (ε or v) for the sample ``x``, in the pipeline's operations."""
        abar = self.scheduler.alphas_cumprod[t].to(x.device)
        beta = 1 - abar
        if self.model.prediction_type == "epsilon":
            x0, eps = (x - beta ** (0.5) * out) / abar ** (0.5), out
        else:  # v_prediction (to_epsilon refuses other types first)
            x0, eps = (abar**0.5) * x - (beta**0.5) * out, (beta**0.5) * x + (abar**0.5) * out
        return out + self.scale * (out - self._degraded_output(x0, eps, t))

    def correct_epsilon(self, eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """The same correction in ε (the guided branch): ε + s (ε − ε(out_degraded, x)), which equals converting
        the corrected output, since ε is affine in the output for a fixed ``x``."""
        x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
        degraded = self._degraded_output(x0.to(x.dtype), eps.to(x.dtype), t)
        return eps + self.scale * (eps - to_epsilon(degraded.float(), x.float(), abar, self.model.prediction_type))


def _rows_finite(*tensors: torch.Tensor) -> torch.Tensor:
    ok = torch.ones(tensors[0].shape[0], dtype=torch.bool, device=tensors[0].device)
    for v in tensors:
        ok &= torch.isfinite(v.reshape(v.shape[0], -1)).all(dim=1)
    return ok


def initial_noise(model: DiffusionModel, seeds: Sequence[int], scheduler) -> torch.Tensor:
    """Each image's starting noise from its own CPU generator (the same on every device and in any batch)."""
    from diffusers.utils.torch_utils import randn_tensor

    gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
    x = randn_tensor((len(seeds), *model.sample_shape), generator=gens, device=model.device, dtype=model.dtype)
    return x * scheduler.init_noise_sigma


def sample(model: DiffusionModel, score_fn: ScoreFn | None, *, seeds: Sequence[int], steps: int,
           scale: float = 0.0, sag_scale: float = 0.0, progress: bool = True, label: str = "") -> SampleResult:
    """Sample one image per seed (one batch), guided by ``score_fn`` with guidance scale ``scale``, and with
    self-attention guidance of scale ``sag_scale`` (0: off)."""
    if scale != 0 and score_fn is None:
        raise ValueError("A non-zero guidance scale needs a score function.")
    if not (math.isfinite(scale) and math.isfinite(sag_scale)):
        raise ValueError(f"The guidance scales must be finite, not {scale} and {sag_scale}.")
    if hasattr(score_fn, "reset"):
        score_fn.reset()
    scheduler = model.make_scheduler()
    scheduler.set_timesteps(steps, device=model.device)
    x = initial_noise(model, seeds, scheduler)
    failed = [""] * len(seeds)
    alive = torch.ones(len(seeds), dtype=torch.bool, device=x.device)
    abars = scheduler.alphas_cumprod.to(x.device)
    sag = SelfAttentionGuidance(model, sag_scale, scheduler) if sag_scale != 0 else None
    start = time.perf_counter()
    with sag if sag is not None else contextlib.nullcontext():
        for i, t in enumerate(scheduler.timesteps):
            if scale == 0:
                with torch.no_grad():
                    out = model.denoise(scheduler.scale_model_input(x, t), t)
                    if sag is not None:
                        out = sag.correct_output(out, x, t)
            else:
                abar = abars[t].to(torch.float32)
                eps, grad, score = guidance_gradient(model, score_fn, x, t, abar, scale, scheduler)
                if sag is not None:
                    eps = sag.correct_epsilon(eps.float(), x, t, abar)
                ok = _rows_finite(eps, grad) & torch.isfinite(score)
                grad = torch.where(ok.view(-1, 1, 1, 1), grad, torch.zeros_like(grad))
                eps = eps.float() - (1 - abar).sqrt() * grad.float()
                out = from_epsilon(eps, x.float(), abar, model.prediction_type).to(x.dtype)
                _stop(~ok & alive, alive, failed, seeds,
                      f"non-finite score or guidance gradient at step {i + 1}/{steps}")
            with torch.no_grad():
                x = scheduler.step(out, t, x).prev_sample
            _stop(~_rows_finite(x) & alive, alive, failed, seeds, f"non-finite sample at step {i + 1}/{steps}")
            x = torch.where(alive.view(-1, 1, 1, 1), x, torch.zeros_like(x))
            if progress and ((i + 1) % max(1, steps // 5) == 0 or i + 1 == steps):
                log.info("%s step %d/%d (%.1f s)%s", label, i + 1, steps, time.perf_counter() - start,
                         "" if bool(alive.all()) else f", {int((~alive).sum())} images stopped")
    with torch.no_grad():
        images = model.decoder(x).float().cpu()
    bad = ~_rows_finite(images).cpu()
    for j in np.flatnonzero(bad.numpy()):
        failed[j] = failed[j] or "non-finite decoded image"
    images[torch.as_tensor([bool(f) for f in failed])] = float("nan")
    return SampleResult(images, [int(s) for s in seeds], failed)


def _stop(stop: torch.Tensor, alive: torch.Tensor, failed: list[str], seeds: Sequence[int], why: str) -> None:
    for j in np.flatnonzero(stop.cpu().numpy()):
        failed[j] = why
        log.warning("seed %d stopped: %s (lower braindive.guidance_scale if this happens often)", seeds[j], why)
    alive &= ~stop
