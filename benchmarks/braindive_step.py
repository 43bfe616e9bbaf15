"""Cost of a guided BrainDiVE step relative to an unguided one, on the demo's models, same process.

The unguided step is one UNet forward and one DPM-Solver++ update; the guided step adds the
UNet's backward pass and the decode → backbone → encoder read-out forward and backward. Both are
timed on the same batch, interleaved, on the demo architectures (the demo diffusion model and the
demo CLIP: trained weights when a demo run left them in ``results/demo/models``, else the same
architectures with random weights, which cost the same).

With self-attention guidance (``braindive.sag_scale``) each step adds one more UNet forward on the
degraded prediction (and the mask and blur): the guided step with SAG is timed against the guided
step without it, in the same interleaved loop.

Run:  python benchmarks/braindive_step.py [--batch 32] [--repeats 7] [--threads 2] [--augmentations 0] [--sag 0.75]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cortexplorer.braindive.guidance import AugmentedScore, RegionScore, SelfAttentionGuidance, guidance_gradient
from cortexplorer.encoder import VoxelEncoder
from cortexplorer.io.torchfile import save_torch
from cortexplorer.models import BackboneSpec, load_backbone, open_clip_module
from cortexplorer.models.backbone import DEMO_ARCH
from cortexplorer.models.diffusion import (
    DiffusionModel,
    PixelDecoder,
    build_pixel_unet,
    dpm_solver_config,
    load_demo_diffusion,
)

DEMO = Path("results/demo/models")


def demo_models(tmp: Path) -> tuple[DiffusionModel, torch.nn.Module, str]:
    from diffusers import DDPMScheduler

    if (DEMO / "demo_diffusion" / "model.pt").exists():
        model, which = load_demo_diffusion(DEMO / "demo_diffusion" / "model.pt"), "trained demo diffusion"
    else:
        unet = build_pixel_unet(sample_size=32, channels=(32, 64, 64)).eval().requires_grad_(False)
        model = DiffusionModel(unet, dpm_solver_config(DDPMScheduler().config, pixel=True), PixelDecoder(),
                               (3, 32, 32))
        which = "demo diffusion architecture, random weights"
    clip = DEMO / "demo_clip" / "model.pt"
    if not clip.exists():
        clip = tmp / "clip.pt"
        net = open_clip_module().create_model(DEMO_ARCH, force_image_size=64)
        save_torch({"arch": DEMO_ARCH, "image_size": 64, "state_dict": net.state_dict()}, clip)
        which += "; demo CLIP architecture, random weights"
    backbone = load_backbone(BackboneSpec.from_config("democlip", {"kind": "demo_clip"}), demo_weights=clip)
    return model, backbone.requires_grad_(False), which


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--augmentations", type=int, default=0, help="random crops per guided step (braindive.augmentations; 0 in the demo)")
    ap.add_argument("--sag", type=float, default=0.75, help="self-attention guidance scale of the SAG step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        model, backbone, which = demo_models(Path(d))
    rng = np.random.default_rng(0)
    n_vox = 60
    encoder = VoxelEncoder(torch.as_tensor(rng.normal(size=(backbone.embed_dim, n_vox)), dtype=torch.float32),
                           torch.zeros(n_vox), torch.zeros(n_vox, 3, dtype=torch.long), torch.ones(n_vox))
    score = RegionScore(backbone, encoder, np.arange(n_vox)).eval()
    if args.augmentations:
        score = AugmentedScore(score, args.augmentations)
    scheduler = model.make_scheduler()
    scheduler.set_timesteps(25)
    t = scheduler.timesteps[10]
    abar = scheduler.alphas_cumprod[t]
    x = torch.randn(args.batch, *model.sample_shape, generator=torch.Generator().manual_seed(0))

    def unguided() -> None:
        with torch.no_grad():
            out = model.denoise(x, t)
            scheduler.step(out, t, x)
            scheduler._step_index = None  # time the same step again

    def guided() -> None:
        eps, grad, _ = guidance_gradient(model, score, x, t, abar, 50.0, scheduler)
        with torch.no_grad():
            scheduler.step(eps - (1 - abar).sqrt() * grad, t, x)
            scheduler._step_index = None

    sag = SelfAttentionGuidance(model, args.sag, scheduler)

    def guided_sag() -> None:
        with sag:
            eps, grad, _ = guidance_gradient(model, score, x, t, abar, 50.0, scheduler)
            eps = sag.correct_epsilon(eps.float(), x, t, abar)
        with torch.no_grad():
            scheduler.step(eps - (1 - abar).sqrt() * grad, t, x)
            scheduler._step_index = None

    steps = (("unguided", unguided), ("guided", guided), ("guided_sag", guided_sag))
    for _, f in steps:
        f()  # warm-up
    times: dict[str, list[float]] = {name: [] for name, _ in steps}
    for _ in range(args.repeats):
        for name, f in steps:
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    u, g, gs = np.median(times["unguided"]), np.median(times["guided"]), np.median(times["guided_sag"])
    print(f"models: {which}; batch {args.batch} at {model.sample_shape[1]} px, {args.augmentations} augmentations, "
          f"{args.threads} threads, "
          f"{args.repeats} interleaved repeats")
    print(f"unguided step {u * 1000:.0f} ms, guided step {g * 1000:.0f} ms (medians): ratio {g / u:.2f} "
          f"(target <= 3.5)")
    print(f"guided step with SAG {args.sag:g}: {gs * 1000:.0f} ms: {gs / g:.2f}x the guided step without it")


if __name__ == "__main__":
    main()
