"""Diffusion models for image synthesis: Stable Diffusion from the local cache, or the demo's pixel model.

Both are wrapped as a :class:`DiffusionModel`: a denoiser, the DPM-Solver++ scheduler settings
it samples with, the shape of its samples and a decoder from samples to images in [0, 1]
(the VAE decoder for latent diffusion, the identity for pixel diffusion). The guided sampler
(:mod:`cortexplorer.braindive.guidance`) only sees this interface, so it is written once for both.

Config spec (``braindive.diffusion``):

- ``{kind: stable_diffusion, model_id: stabilityai/stable-diffusion-2-1-base, revision: main}``
  (optional ``cache_dir``, ``variant: fp16``): the components of ``StableDiffusionPipeline``
  from the local Hugging Face cache, never downloaded; fp16 on a GPU.
- ``{kind: demo_diffusion}``: the pixel-space ``UNet2DModel`` the ``demo_diffusion`` rule trains.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger(__name__)

DIFFUSION_KINDS = ("stable_diffusion", "demo_diffusion")


class PixelDecoder(torch.nn.Module):
    """Pixel diffusion: samples in [-1, 1] are the image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 2 + 0.5).clamp(0, 1)


class LatentDecoder(torch.nn.Module):
    """Latent diffusion: the VAE decoder (``vae.decode(x / scaling_factor)``), then to [0, 1]."""

    def __init__(self, vae: torch.nn.Module):
        super().__init__()
        self.vae = vae
        self.scaling_factor = float(vae.config.scaling_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = self.vae.decode(x.to(self.vae.dtype) / self.scaling_factor).sample
        return (image.float() / 2 + 0.5).clamp(0, 1)


@dataclass
class DiffusionModel:
    """A denoiser with everything the sampler needs; ``context`` is the empty prompt's text embedding (latent
    diffusion, 1 × L × D) or ``None`` (unconditional pixel model)."""

    unet: torch.nn.Module
    scheduler_config: Mapping[str, Any]
    decoder: torch.nn.Module
    sample_shape: tuple[int, int, int]
    context: torch.Tensor | None = None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "pixel" if isinstance(self.decoder, PixelDecoder) else "latent"

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler_config.get("prediction_type", "epsilon"))

    def make_scheduler(self):
        """A fresh DPM-Solver++ scheduler (they hold per-run state)."""
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler.from_config(dict(self.scheduler_config))

    def denoise(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The denoiser's raw output (ε or v, see ``prediction_type``) for the batch ``x`` at step ``t``."""
        if self.context is None:
            return self.unet(x, t).sample
        ctx = self.context.to(x.device, x.dtype).expand(x.shape[0], -1, -1)
        return self.unet(x, t, encoder_hidden_states=ctx).sample


def dpm_solver_config(base: Mapping[str, Any], *, pixel: bool) -> dict[str, Any]:
    """DPM-Solver++ (order 2) settings on top of a model's training-noise schedule.

    Pixel-space models need the predicted clean sample thresholded to the data range: without it
    DPM-Solver++ diverges on a small pixel model (samples reach ±30, measured), as the DDIM
    scheduler avoids by clipping.
    """
    keep = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
            "steps_offset", "timestep_spacing", "rescale_betas_zero_snr")
    cfg = {k: base[k] for k in keep if k in base}
    cfg.update(algorithm_type="dpmsolver++", solver_order=2)
    if pixel:
        cfg.update(thresholding=True, sample_max_value=1.0)
    return cfg


def from_pipeline(pipe, *, identity: Mapping[str, Any] | None = None) -> DiffusionModel:
    """A :class:`DiffusionModel` from a diffusers ``StableDiffusionPipeline`` (empty prompt, no CFG)."""
    with torch.no_grad():
        ids = pipe.tokenizer([""], padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        context = pipe.text_encoder(ids.to(pipe.text_encoder.device))[0]
    unet = pipe.unet
    size = int(unet.config.sample_size)
    return DiffusionModel(unet=unet, scheduler_config=dpm_solver_config(pipe.scheduler.config, pixel=False),
                          decoder=LatentDecoder(pipe.vae), sample_shape=(int(unet.config.in_channels), size, size),
                          context=context.detach(), identity=dict(identity or {"kind": "stable_diffusion"}))


def load_stable_diffusion_pipeline(model_id: str, *, revision: str = "main", variant: str | None = None,
                                   cache_dir: str | None = None, device: str = "cpu",
                                   config_key: str = "braindive.diffusion"):
    """``StableDiffusionPipeline`` from the local Hugging Face cache (``local_files_only``; fp16 on GPU)."""
    from diffusers import StableDiffusionPipeline

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        pipe = StableDiffusionPipeline.from_pretrained(model_id, revision=revision, variant=variant, torch_dtype=dtype,
                                                       cache_dir=cache_dir, local_files_only=True,
                                                       safety_checker=None, requires_safety_checker=False)
    except (OSError, ValueError) as err:
        where = cache_dir or os.environ.get("HF_HUB_CACHE") or os.path.expanduser("~/.cache/huggingface/hub")
        raise FileNotFoundError(
            f"Stable Diffusion '{model_id}' (revision {revision!r}) is not in the local Hugging Face cache "
            f"'{where}' ({err}). Nothing is downloaded at run time: on a machine with internet run "
            f"`huggingface-cli download {model_id} --revision {revision}` and copy the cache here, or set "
            f"{config_key}.cache_dir to the hub cache that holds it.") from err
    return pipe.to(device)


def load_stable_diffusion(model_id: str, *, revision: str = "main", variant: str | None = None,
                          cache_dir: str | None = None, device: str = "cpu",
                          config_key: str = "braindive.diffusion") -> DiffusionModel:
    """Stable Diffusion's components from the local Hugging Face cache (``local_files_only``; fp16 on GPU)."""
    pipe = load_stable_diffusion_pipeline(model_id, revision=revision, variant=variant, cache_dir=cache_dir,
                                          device=device, config_key=config_key)
    identity = {"kind": "stable_diffusion", "model_id": model_id, "revision": revision,
                "commit": _snapshot_commit(pipe)}
    return from_pipeline(pipe, identity=identity)


def text_to_image(pipe, prompt: str, seeds: list[int], *, steps: int, guidance_scale: float):
    """Images (uint8 N × H × W × 3) of a text prompt with Stable Diffusion's own text conditioning and
    classifier-free guidance, DPM-Solver++ (order 2), one image per seed (each from its own CPU generator)."""
    import numpy as np
    from diffusers import DPMSolverMultistepScheduler

    pipe.scheduler = DPMSolverMultistepScheduler.from_config(dpm_solver_config(pipe.scheduler.config, pixel=False))
    gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
    out = pipe(prompt=[prompt] * len(seeds), num_inference_steps=steps, guidance_scale=guidance_scale,
               generator=gens, output_type="np").images
    return (np.clip(np.nan_to_num(out), 0, 1) * 255).round().astype(np.uint8)


def _snapshot_commit(pipe) -> str:
    path = getattr(pipe.unet.config, "_name_or_path", "") or ""
    parts = os.path.normpath(path).split(os.sep)
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else ""


class PatchedUNet(torch.nn.Module):
    """A pixel ``UNet2DModel`` that sees the image as ``patch_size`` × ``patch_size`` patches stacked in its channels
    (space-to-depth, as in Hoogeboom et al. 2023, "simple diffusion"): the UNet runs at 1/``patch_size`` of the
    resolution, ``patch_size``² times cheaper per layer, and its output is unstacked back to pixels. Called like the
    UNet (``unet(x, t).sample``)."""

    def __init__(self, unet: torch.nn.Module, patch_size: int):
        super().__init__()
        if patch_size < 1:
            raise ValueError(f"patch_size must be ≥ 1, not {patch_size}.")
        self.unet, self.patch_size = unet, int(patch_size)

    @property
    def config(self):
        return self.unet.config

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        from diffusers.models.unets.unet_2d import UNet2DOutput

        p = self.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"Images of {tuple(x.shape[-2:])} px do not split into {p}×{p} patches.")
        out = self.unet(torch.nn.functional.pixel_unshuffle(x, p), t).sample
        return UNet2DOutput(sample=torch.nn.functional.pixel_shuffle(out, p))


def build_pixel_unet(*, sample_size: int, channels: tuple[int, ...] = (32, 64, 64), layers_per_block: int = 1,
                     attention_levels: tuple[int, ...] | None = None, patch_size: int = 1):
    """The demo's pixel ``UNet2DModel``: one resolution level per entry of ``channels``, self-attention at
    the levels in ``attention_levels`` (default: the lowest resolution only); with ``patch_size`` > 1 it runs on
    patches (:class:`PatchedUNet`; ``sample_size`` stays the image's side)."""
    from diffusers import UNet2DModel

    if sample_size % patch_size:
        raise ValueError(f"demo_diffusion.image_size {sample_size} is not a multiple of patch_size {patch_size}.")
    n = len(channels)
    attn = set(attention_levels if attention_levels is not None else (n - 1,))
    down = tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(n))
    up = tuple("AttnUpBlock2D" if (n - 1 - i) in attn else "UpBlock2D" for i in range(n))
    stacked = 3 * patch_size**2
    unet = UNet2DModel(sample_size=sample_size // patch_size, in_channels=stacked, out_channels=stacked,
                       layers_per_block=layers_per_block, block_out_channels=tuple(channels),
                       down_block_types=down, up_block_types=up, norm_num_groups=min(8, min(channels)))
    return unet if patch_size == 1 else PatchedUNet(unet, patch_size)


def pixel_unet_parts(net: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """The ``UNet2DModel`` inside a pixel model and its patch size (1 for a plain UNet)."""
    return (net.unet, net.patch_size) if isinstance(net, PatchedUNet) else (net, 1)


def load_demo_diffusion(path: str | os.PathLike, *, device: str = "cpu") -> DiffusionModel:
    """The pixel model written by the ``demo_diffusion`` rule."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"The demo diffusion model '{path}' does not exist; run the demo_diffusion rule "
                                "(snakemake demo_diffusion) first.")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    missing = {"unet_config", "state_dict", "scheduler_config"} - set(blob)
    if missing:
        raise ValueError(f"'{path}' is not a demo diffusion model (missing {sorted(missing)}); rerun demo_diffusion.")
    from cortexplorer.models.backbone import file_sha256

    return pixel_diffusion(blob, device=device, identity={"kind": "demo_diffusion", "weights_sha256": file_sha256(path)})


def pixel_diffusion(blob: Mapping[str, Any], *, device: str = "cpu",
                    identity: Mapping[str, Any] | None = None) -> DiffusionModel:
    """A frozen pixel :class:`DiffusionModel` from the demo's weight-file contents (``unet_config``, ``state_dict``,
    ``scheduler_config``: its training noise schedule and prediction type; ``patch_size``, 1 when absent)."""
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_config(dict(blob["unet_config"]))
    unet.load_state_dict(blob["state_dict"])
    patch = int(blob.get("patch_size", 1))
    unet = unet if patch == 1 else PatchedUNet(unet, patch)
    unet.eval().requires_grad_(False).to(device)
    size = int(unet.config.sample_size) * patch
    return DiffusionModel(unet=unet, scheduler_config=dpm_solver_config(blob["scheduler_config"], pixel=True),
                          decoder=PixelDecoder(), sample_shape=(int(unet.config.in_channels) // patch**2, size, size),
                          identity=dict(identity or {"kind": "demo_diffusion"}))


def load_diffusion(spec: Mapping[str, Any], *, demo_weights: str | os.PathLike | None = None,
                   device: str = "cpu") -> DiffusionModel:
    """The diffusion model of a config spec (see the module docstring), frozen, on ``device``."""
    kind = spec.get("kind")
    if kind == "demo_diffusion":
        if demo_weights is None:
            raise ValueError("braindive.diffusion.kind is demo_diffusion but no demo model path was given.")
        model = load_demo_diffusion(demo_weights, device=device)
    elif kind == "stable_diffusion":
        model = load_stable_diffusion(spec["model_id"], revision=spec.get("revision", "main"),
                                      variant=spec.get("variant"), cache_dir=spec.get("cache_dir"), device=device)
    else:
        raise ValueError(f"Unknown braindive.diffusion.kind {kind!r}; use one of {list(DIFFUSION_KINDS)}.")
    for module in (model.unet, model.decoder):
        module.eval().requires_grad_(False)
    return model
