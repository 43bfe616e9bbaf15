"""GPU check of the WAVE-style decoder at the paper's size: fine-tuning throughput in windows per second (issue 23).

WAVE (arXiv 2411.07121; ``../shared/reference/decoding_wave.md``): 1,024 parcels (DiFuMo-1024), embedding 768, 4
layers, batch 16, fine-tuned with symmetric InfoNCE against frozen CLIP ViT-L/14 image and text embeddings (768-d).
Here the same loop as the workflow's ``decoding_wave`` (:func:`cortexplorer.decoding.wave.finetune`: parcel dropout,
TR shift, two learnable temperatures) on random windows of ``--window`` TRs; the cost does not depend on the values.
Reports windows per second after a warm-up epoch, and the peak GPU memory.

Run:  python benchmarks/gpu_decoding.py [--batch 16] [--window 8] [--windows 4096] [--device cuda]
      python benchmarks/gpu_decoding.py --tiny --device cpu     (the same code at toy size, as a check)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cortexplorer.decoding import wave


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--windows", type=int, default=4096)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    if args.tiny:
        cfg = wave.WaveConfig(n_parcels=64, window=args.window, embed_dim=32, width=32, depth=1, heads=2)
        n = min(args.windows, 512)
    else:
        cfg = wave.WaveConfig(n_parcels=1024, window=args.window, embed_dim=768, width=768, depth=4, heads=12)
        n = args.windows
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(n, args.window + 2, cfg.n_parcels)).astype(np.float32)
    image = rng.normal(size=(n, cfg.embed_dim)).astype(np.float32)
    model = wave.WaveDecoder(cfg).to(args.device)
    model.fit_normalisation(windows)

    def epoch() -> float:
        start = time.perf_counter()
        wave.finetune(model, windows, np.arange(n), image, image, epochs=1, lr=1e-5, batch_size=args.batch,
                      parcel_dropout=0.2, tr_shift=1, rng=rng, device=args.device)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    epoch()  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    seconds = epoch()
    used = (n // args.batch) * args.batch
    n_params = sum(p.numel() for p in model.parameters())
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
    print(f"WAVE-style decoder {'tiny' if args.tiny else 'paper-size'} ({n_params / 1e6:.2f} M parameters), "
          f"{cfg.n_parcels} parcels × {cfg.window} TRs, batch {args.batch}, on {args.device}: "
          f"{used / seconds:.0f} windows/s fine-tuning (image + text InfoNCE); peak GPU memory {peak:.2f} GiB")


if __name__ == "__main__":
    main()
