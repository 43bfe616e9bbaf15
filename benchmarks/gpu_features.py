"""GPU check of the features path: BrainDiVE's backbone (open_clip ViT-B-16) at full size on CUDA.

Builds ViT-B-16 with random weights, puts them in a throw-away Hugging Face hub cache where the
``laion2b_s34b_b88k`` tag points, loads them through ``cortexplorer.models.load_backbone`` (the
code path of the features stage, no download) and reports:

- throughput of unit-normalised embeddings of 224×224 images on the GPU (fp32), in images/s;
- agreement of GPU and CPU embeddings of the same images (max |difference| of unit vectors, and
  the smallest cosine between them);
- the image gradient of a region's mean predicted response (``ImageEncoder``) on GPU versus CPU.

Run:  python benchmarks/gpu_features.py [--n 4096] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cortexplorer.encoder import ImageEncoder, VoxelEncoder
from cortexplorer.models import BackboneSpec, load_backbone, open_clip_module


def fake_hub(cache: Path, repo: str, filename: str, state: dict) -> None:
    from safetensors.torch import save_file

    revision = "0" * 40
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    (folder / "snapshots" / revision).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "snapshots" / revision / filename))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096, help="images embedded on the device")
    ap.add_argument("--n-cpu", type=int, default=64, help="of which compared with the CPU")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    torch.manual_seed(0)
    open_clip = open_clip_module()
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
              f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, TF32 cuDNN {torch.backends.cudnn.allow_tf32}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        source = open_clip.create_model("ViT-B-16")
        fake_hub(Path(tmp), "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "open_clip_model.safetensors",
                 source.state_dict())
        spec = BackboneSpec.from_config("braindive", {"kind": "open_clip", "arch": "ViT-B-16",
                                                      "pretrained": "laion2b_s34b_b88k", "cache_dir": tmp})
        gpu = load_backbone(spec, device=args.device)
        cpu = load_backbone(spec, device="cpu")
        print(f"built ViT-B-16 ({sum(p.numel() for p in source.parameters()) / 1e6:.1f} M parameters), cached and "
              f"loaded twice through load_backbone in {time.perf_counter() - t0:.1f} s")
    images = np.random.default_rng(0).integers(0, 256, (args.n, 224, 224, 3), dtype=np.uint8)
    gpu.embed(images[: args.batch], batch_size=args.batch, progress=False)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    emb = gpu.embed(images, batch_size=args.batch, progress=False)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(f"embedded {args.n} images of 224×224 in {dt:.2f} s: {args.n / dt:.0f} images/s "
          f"(NSD's 10,000 images of one subject: {10000 / (args.n / dt):.1f} s)")
    t0 = time.perf_counter()
    ref = cpu.embed(images[: args.n_cpu], batch_size=32, progress=False)
    cpu_rate = args.n_cpu / (time.perf_counter() - t0)
    diff = np.abs(emb[: args.n_cpu] - ref).max()
    cos = (emb[: args.n_cpu] * ref).sum(1).min()
    print(f"CPU: {cpu_rate:.1f} images/s; GPU vs CPU on {args.n_cpu} images: max |difference| {diff:.2e}, "
          f"smallest cosine {cos:.6f}")
    # the gradient that guidance uses: d mean(predicted region response) / d image
    rng = np.random.default_rng(1)
    weight = torch.as_tensor(rng.normal(size=(512, 200)) / np.sqrt(512), dtype=torch.float32)
    voxels = VoxelEncoder(weight, torch.zeros(200), torch.zeros(200, 3, dtype=torch.long), torch.ones(200))
    image = torch.as_tensor(images[:2], dtype=torch.float32).permute(0, 3, 1, 2) / 255
    grads = []
    for backbone, dev in ((cpu, "cpu"), (gpu, args.device)):
        model = ImageEncoder(backbone, voxels).to(dev)
        x = image.clone().to(dev).requires_grad_(True)
        model(x)[:, :50].mean().backward()
        grads.append(x.grad.cpu())
    rel = float((grads[0] - grads[1]).norm() / grads[0].norm())
    print(f"image gradient of a 50-voxel region's mean response, GPU vs CPU: relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
