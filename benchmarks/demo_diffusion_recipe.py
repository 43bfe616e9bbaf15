"""The demo's image prior: the old and the new training recipe, trained in one run on the same pool images.

Each recipe trains the demo's pixel UNet2DModel on the same pool images, then draws 256 unguided
samples (seeds 0-255, 25 DPM-Solver++ steps) that the demo's oracle and its CNN judge against 512
fresh images of the world, with rule demo_prior's own judge_prior (cortexplorer.models.prior_quality). Prints, per
recipe: seconds, final loss, the prior-quality numbers, and writes each sample grid.

Needs a demo run's pool, oracle and demo CNN:

    .venv/bin/snakemake --cores 2 --until oracle demo_cnn
    .venv/bin/python benchmarks/demo_diffusion_recipe.py [--recipes old new] [--out benchmarks/runs/prior]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from cortexplorer.config import check_config
from cortexplorer.io.images import read_image_set
from cortexplorer.layout import Layout
from cortexplorer.models.cnn import load_network
from cortexplorer.models.demo_diffusion import DemoDiffusionSettings, fit_demo_diffusion, to_model_range, weights_blob
from cortexplorer.models.diffusion import pixel_diffusion
from cortexplorer.models.prior_quality import PriorJudgeSettings, judge_prior
from cortexplorer.oracle import load_oracle
from cortexplorer.report.figures import image_grid

# the recipe the demo trained with until 2026-12 (issue 20), and candidates; each overrides the config's settings
RECIPES = {
    "old": {"channels": (32, 64, 64), "steps": 3000, "batch_size": 32, "learning_rate": 5e-4, "warmup_steps": 100,
            "ema_decay": 0.999, "prediction_type": "epsilon", "noise_schedule": "linear", "snr_gamma": None,
            "precision": "float32", "patch_size": 1},
}


def parse_recipe(text: str) -> tuple[str, dict]:
    """``name`` of RECIPES, or ``name=JSON`` overriding the old recipe's fields."""
    if "=" not in text:
        return text, dict(RECIPES[text])
    name, overrides = text.split("=", 1)
    return name, {**RECIPES["old"], **json.loads(overrides)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(Layout("demo").results))
    parser.add_argument("--recipes", nargs="+", default=["old"], help="names of RECIPES or name=JSON overrides")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/runs/prior")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    layout = Layout("demo")
    results = Path(args.results)
    pool_paths = layout.image_set("pool")
    rel = lambda p: results / Path(p).relative_to(layout.results)  # noqa: E731
    pool = read_image_set(rel(pool_paths.images), rel(pool_paths.table))
    cfg = check_config(yaml.safe_load(Path("config/config.yaml").read_text()))
    base = DemoDiffusionSettings.from_config(cfg)
    judge = dataclasses.replace(PriorJudgeSettings.from_config(cfg), n_samples=args.samples, steps=args.sample_steps)
    oracle = load_oracle(rel(layout.oracle().model))
    cnn = load_network("democnn", {"kind": "demo_cnn", "arch": "demo_vgg16"},
                       demo_weights=rel(layout.demo_cnn().model), device="cpu")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for text in args.recipes:
        name, fields = parse_recipe(text)
        s = dataclasses.replace(base, **fields)
        data = to_model_range(pool.images, s.image_size)
        start = time.perf_counter()
        fit = fit_demo_diffusion(data, s)
        seconds = time.perf_counter() - start
        model = pixel_diffusion(weights_blob(fit, s.image_size))
        samples, q = judge_prior(model, oracle, cnn, judge)
        image_grid(samples[:64], columns=8, scale=2).save(out / f"samples_{name}.png")
        print(f"\n== {name}: {json.dumps({k: v for k, v in fields.items()}, default=str)}")
        print(f"train {seconds:.0f} s ({seconds / s.steps:.3f} s/step), final loss {fit.curve['loss'].iloc[-1]:.4f}")
        print(q.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(q.categories.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        summary = q.summary.set_index("measure")["samples"]
        rows.append({"recipe": name, "seconds": round(seconds, 1), "final_loss": fit.curve["loss"].iloc[-1],
                     **summary.to_dict()})
    table = pd.DataFrame(rows)
    table.to_csv(out / "recipes.tsv", sep="\t", index=False)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"floor of the Fréchet distance (two halves of {judge.n_world} fresh world images): "
          f"{q.summary.set_index('measure').loc['Fréchet distance in oracle features', 'world']:.3f}")
    if len(rows) > 1:
        print(f"time ratio {rows[0]['recipe']} / {rows[-1]['recipe']}: {rows[0]['seconds'] / rows[-1]['seconds']:.2f}x")


if __name__ == "__main__":
    main()
