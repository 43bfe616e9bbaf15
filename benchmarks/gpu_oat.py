"""GPU check of OAT at the paper's size: training step time for batch 20 (issue 22).

The paper's model (HKUST-NISL/oat_eccv24 ``run.py`` defaults): 512-d tokens (256 CNN ⊕ 256 positional), 4 encoder
and 4 decoder layers, 4 heads, feed-forward 512, dropout 0.1, 2 object-attention heads with d_k 512, spatial
pyramid pooling; here on the Amazon book-cover shelf (6 × 14 = 84 objects) with 150-px crops (the paper's crops
are 150 × 93; ours are square) and scanpaths of ``--length`` fixations. Random weights and random crops: the
step's cost does not depend on them. Reports the mean time of a teacher-forced training step (forward, backward,
clipping, Adam) after warm-up, and the peak GPU memory.

Run:  python benchmarks/gpu_oat.py [--batch 20] [--length 12] [--steps 20] [--device cuda]
      python benchmarks/gpu_oat.py --tiny --device cpu     (the same code at toy size, as a check)
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from cortexplorer.scanpaths import oat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--length", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        cfg = oat.OATConfig(rows=2, cols=5, crop=24, d_cnn=16, d_pe=12, heads=2, encoder_layers=1, decoder_layers=1,
                            feedforward=32, ca_heads=2, ca_dk=8, pe_steps=100)
    else:
        cfg = oat.OATConfig(rows=6, cols=14, crop=150, cnn_pool=5, spp_levels=(1, 2, 4), d_cnn=256, d_pe=256, heads=4,
                            encoder_layers=4, decoder_layers=4, feedforward=512, dropout=0.1, ca_heads=2, ca_dk=512)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = oat.OAT(cfg, seed=0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    crops = torch.rand(args.batch, cfg.n_objects, 3, cfg.crop, cfg.crop, device=device)
    target = torch.randint(0, cfg.n_objects, (args.batch,), device=device)
    history = torch.randint(0, cfg.n_objects, (args.batch, args.length), device=device)
    labels = torch.cat([history, torch.full((args.batch, 1), cfg.n_objects, device=device)], dim=1)

    def step() -> None:
        logits = model(crops, target, history)
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    per_step = (time.perf_counter() - start) / args.steps
    n_params = sum(p.numel() for p in model.parameters())
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    print(f"OAT {'tiny' if args.tiny else 'paper-size'} ({n_params / 1e6:.2f} M parameters), {cfg.rows} x {cfg.cols} "
          f"shelf, {cfg.crop}-px crops, batch {args.batch}, {args.length} fixations, on {device}: "
          f"{per_step * 1000:.1f} ms per training step ({args.batch / per_step:.1f} scanpaths/s); "
          f"peak GPU memory {peak:.2f} GiB")


if __name__ == "__main__":
    main()
