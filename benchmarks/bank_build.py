"""BrainSCUBA's bank builder: peak memory of its jobs as the bank grows, and its throughput against the features stage.

Each job runs as the workflow runs it (``run_bank_index`` / ``run_bank_shard`` / ``run_bank_manifest``), in its own
child process, so its peak resident memory (``ru_maxrss`` from ``wait4``) is its own. Banks of 2, 4 and 8 WebDataset
tar shards of ``--per-shard`` JPEGs (mixed sizes, centre-cropped by the builder): the index and manifest jobs read
every shard and the shard jobs one each, so their peaks should be flat as the shard count grows.

Throughput: images per second of one shard job (decode + crop + resize + embed + write) against the features stage
(``extract_features``: the same images already imported at the backbone's size) on the same images, same backbone,
same threads, one after the other: the ratio is what building a bank costs over embedding ready-made stimuli.
The backbone is open_clip ViT-B-32 at 224 px with random weights saved to a file and loaded as a user's file is
(nothing is downloaded).

    .venv/bin/python benchmarks/bank_build.py            # ViT-B-32, 2 threads
    .venv/bin/python benchmarks/bank_build.py --tiny     # the demo CLIP architecture: checks the script quickly
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np


def write_bank(root: Path, n_shards: int, per_shard: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    # smooth random photos (noise JPEGs would be larger and slower to decode than real ones)
    for s in range(n_shards):
        with tarfile.open(root / f"part-{s:05d}.tar", "w") as tar:
            for i in range(per_shard):
                w, h = rng.integers(256, 500, size=2)
                small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                img = Image.fromarray(small).resize((int(w), int(h)), Image.BICUBIC)
                buf = io.BytesIO()
                img.save(buf, format="JPEG", quality=90)
                for name, data in ((f"{s:05d}{i:05d}.jpg", buf.getvalue()), (f"{s:05d}{i:05d}.txt", b"a photo")):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))


def run_job(args: list[str]) -> tuple[float, float]:
    """Run ``this script --job ...`` in a child; its wall seconds and peak RSS in MiB (the child's own VmHWM,
    read when it ends: ``wait4``'s ru_maxrss would count the parent's pages the fork copied before exec)."""
    with tempfile.NamedTemporaryFile(suffix=".hwm") as hwm:
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--job", *args], env={**os.environ, "BANK_HWM": hwm.name})
        seconds = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"job {args} failed")
        return seconds, float(Path(hwm.name).read_text()) / 1024


def _write_peak_rss() -> None:
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    Path(os.environ["BANK_HWM"]).write_text(kib)


def job(argv: list[str]) -> None:
    from cortexplorer.brainscuba import bank_build
    from cortexplorer.brainscuba.settings import BankBuildSettings

    kind, settings_json, *paths = argv
    s = json.loads(settings_json)
    threads = s.pop("threads")
    if kind in ("shard", "features"):  # the index and manifest jobs never import torch
        import torch

        torch.set_num_threads(threads)
    settings = BankBuildSettings(**s)
    if kind == "index":
        bank_build.run_bank_index(inputs={}, outputs={"index": paths[0]}, settings=settings)
    elif kind == "shard":
        t = time.perf_counter()
        bank_build.run_bank_shard(inputs={"index": paths[0]}, outputs={"shard": paths[1]}, settings=settings)
        if len(paths) > 2:
            Path(paths[2]).write_text(str(time.perf_counter() - t))
    elif kind == "manifest":
        bank_build.run_bank_manifest(inputs={"shards": paths[2:]},
                                     outputs={"manifest": paths[0], "provenance": paths[1]}, settings=settings)
    elif kind == "features":  # the peer: the features stage on the same images imported at the backbone's size
        from cortexplorer.features.extract import extract_features

        t = time.perf_counter()
        extract_features(images_h5=paths[0], stimuli_tsv=paths[1], name=settings.backbone,
                         spec=dict(settings.backbone_spec), out_h5=paths[2], out_provenance=paths[3],
                         batch_size=settings.batch_size, demo_weights=None, device=settings.device, seed=0,
                         normalize=False)
        Path(paths[4]).write_text(str(time.perf_counter() - t))
    _write_peak_rss()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        return job(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-shard", type=int, default=64)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is lent")
    parser.add_argument("--tiny", action="store_true", help="the demo CLIP architecture at 64 px instead of ViT-B-32")
    args = parser.parse_args()

    import torch

    from cortexplorer.models import open_clip_module
    from cortexplorer.stimuli.folder import import_image_folder

    work = Path(tempfile.mkdtemp(prefix="bank_build_"))
    arch = "cortexplorer-demo-clip" if args.tiny else "ViT-B-32"
    torch.manual_seed(0)
    weights = work / f"{arch}.pt"
    torch.save(open_clip_module().create_model(arch).state_dict(), weights)
    spec = {"kind": "open_clip", "arch": arch, "pretrained": str(weights)}
    print(f"{arch} (random weights from a file) on {args.device}, {args.threads} torch threads, batch {args.batch_size}, "
          f"{args.per_shard} JPEGs (256-500 px) per tar shard; work folder {work}")
    rows = []
    for n in args.shards:
        source = work / f"images-{n}"
        write_bank(source, n, args.per_shard)
        settings = json.dumps(dict(source=str(source), shard_size=10000, batch_size=args.batch_size, backbone="bench",
                                   backbone_spec=spec, device=args.device, seed=0, threads=args.threads))
        out = work / f"bank-{n}"
        index = str(out / "index.tsv")
        t_index, rss_index = run_job(["index", settings, index])
        shards, t_shards, rss_shards = [], [], []
        for s in range(n):
            shards.append(str(out / "shards" / f"part-{s:05d}.h5"))
            t, rss = run_job(["shard", settings, index, shards[-1]])
            t_shards.append(t)
            rss_shards.append(rss)
        _, rss_manifest = run_job(["manifest", settings, str(out / "manifest.txt"),
                                            str(out / "manifest.json"), *shards])
        rows.append((n, rss_index, max(rss_shards), rss_manifest, t_index, float(np.median(t_shards))))
        print(f"{n} shards ({n * args.per_shard} images): peak RSS index {rss_index:.0f} MiB, shard job "
              f"{max(rss_shards):.0f} MiB (max of {n}), manifest {rss_manifest:.0f} MiB; index {t_index:.1f} s, "
              f"shard job median {np.median(t_shards):.1f} s", flush=True)
    first = rows[0]
    for r in rows[1:]:
        print(f"{r[0]} vs {first[0]} shards: peak RSS ratio index {r[1] / first[1]:.3f}, shard {r[2] / first[2]:.3f}, "
              f"manifest {r[3] / first[3]:.3f}")

    # throughput: one shard job against the features stage on the same images (each in its own process, twice,
    # interleaved; both times include loading the model and writing the output, not the process start)
    n = args.shards[0]
    source = work / f"images-{n}"
    ref = work / "reference"
    ref.mkdir()
    with tarfile.open(source / "part-00000.tar") as tar:
        for m in tar.getmembers():
            if m.name.endswith(".jpg"):
                (ref / m.name).write_bytes(tar.extractfile(m).read())
    size = 64 if args.tiny else 224
    import_image_folder(folder=ref, image_size=size, out_h5=work / "ref.h5", out_tsv=work / "ref.tsv",
                        out_provenance=work / "ref.json", fit="crop")
    settings = json.dumps(dict(source=str(source), shard_size=10000, batch_size=args.batch_size, backbone="bench",
                               backbone_spec=spec, device=args.device, seed=0, threads=args.threads))
    index = str(work / f"bank-{n}" / "index.tsv")
    t_bank, t_feat = [], []
    for rep in range(2):
        run_job(["shard", settings, index, str(work / f"tp-{rep}" / "part-00000.h5"), str(work / f"tp-{rep}.s")])
        t_bank.append(float((work / f"tp-{rep}.s").read_text()))
        run_job(["features", settings, str(work / "ref.h5"), str(work / "ref.tsv"), str(work / f"f-{rep}.h5"),
                 str(work / f"f-{rep}.json"), str(work / f"f-{rep}.s")])
        t_feat.append(float((work / f"f-{rep}.s").read_text()))
    import h5py

    with h5py.File(work / "tp-0" / "part-00000.h5") as a, h5py.File(work / "f-0.h5") as b:
        diff = np.abs(a["features"][()] - b["features"][()]).max()
    per = args.per_shard
    print(f"throughput, {per} images (best of 2, model load included): bank shard job (read, hash check, decode, "
          f"crop, resize, embed, write) {per / min(t_bank):.1f} images/s; features stage on the imported images "
          f"{per / min(t_feat):.1f} images/s; bank/features time ratio {min(t_bank) / min(t_feat):.2f}; "
          f"embeddings differ by at most {diff:.2e}")


if __name__ == "__main__":
    main()
