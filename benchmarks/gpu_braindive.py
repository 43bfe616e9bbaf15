"""GPU check of BrainDiVE at full size: Stable Diffusion 2.1-base's UNet and VAE with random weights.

Builds the SD-2.1-base ``UNet2DConditionModel`` (320/640/1280/1280 channels, linear-projection
cross-attention to 1024-d text states) and ``AutoencoderKL`` (128/256/512/512) from hand-written
configs with random weights, a ViT-B-16-sized open_clip image tower (random weights) and a random
encoder over 2,000 voxels, then runs ``cortexplorer.braindive.guidance.sample`` exactly as the
stage does: 512×512 images, fp16 UNet and VAE, DPM-Solver++, 50 steps, guidance through the VAE
decoder and the backbone, batch ``--batch`` (≥ 4). The empty prompt's text embedding is a random
1 × 77 × 1024 tensor (the text encoder runs once per run and does not matter for speed).
Reports seconds per image, guided and unguided, each without and with self-attention guidance
(``--sag``, BrainDiVE's 0.75), and the peak GPU memory. Target: < 5 s per guided image on an H100.

Run:  python benchmarks/gpu_braindive.py [--batch 4] [--steps 50] [--device cuda]
      python benchmarks/gpu_braindive.py --tiny --device cpu     (the same code at toy size, as a check)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cortexplorer.braindive.guidance import RegionScore, sample
from cortexplorer.encoder import VoxelEncoder
from cortexplorer.models import Backbone, open_clip_module
from cortexplorer.models.backbone import OPENAI_MEAN, OPENAI_STD
from cortexplorer.models.diffusion import DiffusionModel, LatentDecoder, dpm_solver_config

SD21_BASE_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                      block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024,
                      attention_head_dim=(5, 10, 20, 20), use_linear_projection=True, norm_num_groups=32,
                      down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                        "DownBlock2D"),
                      up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))
SD21_BASE_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                     block_out_channels=(128, 256, 512, 512), norm_num_groups=32, scaling_factor=0.18215,
                     down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
SD21_SCHEDULER = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, num_train_timesteps=1000,
                      prediction_type="epsilon", steps_offset=1, timestep_spacing="leading")
TINY_UNET = dict(SD21_BASE_UNET, sample_size=8, block_out_channels=(32, 32, 64, 64), cross_attention_dim=32,
                 attention_head_dim=(2, 2, 4, 4), norm_num_groups=8, layers_per_block=1)
TINY_VAE = dict(SD21_BASE_VAE, block_out_channels=(8, 8, 16, 16), norm_num_groups=8, layers_per_block=1,
                sample_size=64)


def build(device: str, tiny: bool) -> tuple[DiffusionModel, torch.nn.Module]:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(TINY_UNET if tiny else SD21_BASE_UNET)).to(device, dtype).eval()
    vae = AutoencoderKL(**(TINY_VAE if tiny else SD21_BASE_VAE)).to(device, dtype).eval()
    for m in (unet, vae):
        m.requires_grad_(False)
    ctx_dim = unet.config.cross_attention_dim
    context = torch.randn(1, 77, ctx_dim, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    size = unet.config.sample_size
    model = DiffusionModel(unet, dpm_solver_config(SD21_SCHEDULER, pixel=False), LatentDecoder(vae), (4, size, size),
                           context, {"kind": "sd21-base-random"})
    clip = open_clip_module().create_model("ViT-B-16").eval()  # ViT-B-16 shape, random weights
    backbone = Backbone(clip.visual, 224, OPENAI_MEAN, OPENAI_STD, {"embed_dim": clip.visual.output_dim,
                                                                    "arch": "ViT-B-16"}).to(device).eval()
    return model, backbone.requires_grad_(False)


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--scale", type=float, default=130.0)
    ap.add_argument("--sag", type=float, default=0.75, help="self-attention guidance scale of the SAG runs")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="toy sizes (a CPU check of the script)")
    args = ap.parse_args()
    model, backbone = build(args.device, args.tiny)
    rng = np.random.default_rng(0)
    n_vox = 2000
    encoder = VoxelEncoder(torch.as_tensor(rng.normal(size=(backbone.embed_dim, n_vox)) / 20, dtype=torch.float32),
                           torch.zeros(n_vox), torch.zeros(n_vox, 3, dtype=torch.long), torch.ones(n_vox))
    score = RegionScore(backbone, encoder, np.arange(200)).to(args.device).eval()
    seeds = list(range(args.batch))
    sample(model, score, seeds=seeds, steps=2, scale=args.scale, progress=False)  # warm-up (kernels, allocator)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = {}
    t_guided = timed(lambda: result.update(g=sample(model, score, seeds=seeds, steps=args.steps, scale=args.scale,
                                                      progress=False)), args.device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
    t_plain = timed(lambda: result.update(u=sample(model, None, seeds=seeds, steps=args.steps, scale=0.0,
                                                   progress=False)), args.device)
    # self-attention guidance (BrainDiVE's sampler: sag_scale 0.75): one more UNet forward per step
    t_sag = timed(lambda: result.update(gs=sample(model, score, seeds=seeds, steps=args.steps, scale=args.scale,
                                                  sag_scale=args.sag, progress=False)), args.device)
    t_plain_sag = timed(lambda: result.update(us=sample(model, None, seeds=seeds, steps=args.steps, scale=0.0,
                                                        sag_scale=args.sag, progress=False)), args.device)
    g = result["g"]
    size = g.images.shape[-1]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device: {name}, torch {torch.__version__}; {'TINY ' if args.tiny else ''}SD-2.1-base UNet + VAE "
          f"(random weights, {model.dtype}), ViT-B-16-sized backbone; {size}x{size} images, batch {args.batch}, "
          f"{args.steps} DPM-Solver++ steps, guidance scale {args.scale}")
    print(f"guided: {t_guided:.1f} s for {args.batch} images = {t_guided / args.batch:.2f} s per image "
          f"(target < 5 s on an H100); {int(g.ok.sum())}/{len(g.ok)} finished; peak GPU memory {peak:.1f} GiB")
    print(f"unguided: {t_plain / args.batch:.2f} s per image; guided/unguided = {t_guided / t_plain:.2f}")
    print(f"with SAG {args.sag:g}: guided {t_sag / args.batch:.2f} s per image ({t_sag / t_guided:.2f}x without SAG; "
          f"{int(result['gs'].ok.sum())}/{len(seeds)} finished), unguided {t_plain_sag / args.batch:.2f} s per image "
          f"({t_plain_sag / t_plain:.2f}x)")


if __name__ == "__main__":
    main()
