"""The demo's image prior: the old and the new training recipe, trained in one run on the same pool images.

Each recipe trains the demo's pixel UNet2DModel on the same pool images, then draws 256 unguided
samples (seeds 0-255, 25 DPM-Solver++ steps) that the demo's oracle and its CNN judge against 512
fresh images of the world, with rule demo_prior's own judge_prior (cortexplorer.models.prior_quality);
then runs BrainDiVE on that prior for faces, places, bodies and words (the demo's encoder, settings and
seeds) and judges the kept images as rule braindive_evaluate does, against this prior's own unguided
samples. Prints, per recipe: seconds, final loss, the prior-quality numbers and the BrainDiVE numbers
(kept share by the oracle and by the demo CNN, true activation of the kept images over the top natural
images', and in unguided SDs), and writes each sample grid.

Needs a finished demo run (its pool, oracle, demo CNN, encoder, regions and betas):

    .venv/bin/snakemake --cores 2
    .venv/bin/python benchmarks/demo_diffusion_recipe.py [--recipes old new] [--out benchmarks/runs/prior]

``old`` is the recipe the demo trained with until 2026-12, ``new`` the config's defaults; ``NAME=JSON`` overrides
the old recipe's fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from cortexplorer.braindive.evaluate import evaluate_region, load_evaluation, natural_stimuli
from cortexplorer.braindive.guidance import sample
from cortexplorer.braindive.settings import BrainDiVESettings, EvaluationSettings, SamplingSettings
from cortexplorer.braindive.stage import guided_images, load_region, write_pngs
from cortexplorer.config import check_config
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.layout import Layout
from cortexplorer.models.cnn import load_network
from cortexplorer.models.demo_diffusion import DemoDiffusionSettings, fit_demo_diffusion, to_model_range, weights_blob
from cortexplorer.models.diffusion import load_demo_diffusion, pixel_diffusion
from cortexplorer.models.prior_quality import PriorJudgeSettings, judge_prior
from cortexplorer.oracle import load_oracle
from cortexplorer.report.figures import image_grid

# the recipe the demo trained with until 2026-12 (issue 20), and candidates; each overrides the config's settings
RECIPES = {
    "old": {"channels": (32, 64, 64), "steps": 3000, "batch_size": 32, "learning_rate": 5e-4, "warmup_steps": 100,
            "ema_decay": 0.999, "prediction_type": "epsilon", "noise_schedule": "linear", "snr_gamma": None,
            "precision": "float32", "patch_size": 1},
    "new": {},  # the config's defaults
}
BRAINDIVE_REGIONS = ("faces", "places", "bodies", "words")


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
    parser.add_argument("--regions", nargs="*", default=list(BRAINDIVE_REGIONS),
                        help="BrainDiVE regions to guide on each prior (none: the prior's numbers only)")
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
        weights = out / name / "model.pt"
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_torch(weights_blob(fit, s.image_size), weights)
        shares = braindive_on_prior(cfg, layout, rel, weights, out / name, args.regions) if args.regions else None
        print(f"\n== {name}: {json.dumps({k: v for k, v in fields.items()}, default=str)}")
        print(f"train {seconds:.0f} s ({seconds / s.steps:.3f} s/step), final loss {fit.curve['loss'].iloc[-1]:.4f}")
        print(q.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(q.categories.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        summary = q.summary.set_index("measure")["samples"]
        row = {"recipe": name, "seconds": round(seconds, 1), "final_loss": fit.curve["loss"].iloc[-1],
               **summary.to_dict()}
        if shares is not None:
            print(shares.to_string(float_format=lambda v: f"{v:.3f}"))
            shares.to_csv(out / f"braindive_{name}.tsv", sep="\t")
            row.update({f"{col} {region}": shares.loc[region, col] for region in shares.index
                        for col in ("share oracle", "share CNN", "true / top natural")})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(out / "recipes.tsv", sep="\t", index=False)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"floor of the Fréchet distance (two halves of {judge.n_world} fresh world images): "
          f"{q.summary.set_index('measure').loc['Fréchet distance in oracle features', 'world']:.3f}")
    if len(rows) > 1:
        print(f"time ratio {rows[0]['recipe']} / {rows[-1]['recipe']}: {rows[0]['seconds'] / rows[-1]['seconds']:.2f}x")


def braindive_on_prior(cfg: dict, layout: Layout, rel, weights: Path, work: Path, regions: list[str]) -> pd.DataFrame:
    """BrainDiVE with the demo's settings on the prior in ``weights``: per region, the kept images' share of the
    region's category by the oracle and by the demo CNN, their true activation over the top natural images' (by
    measured response) and their effect in SDs of this prior's unguided samples (braindive_evaluate's numbers)."""
    subject = cfg["simulate"]["subject"]
    backbone = cfg["braindive"]["backbone"]
    sampling = SamplingSettings.from_config(cfg)
    model = load_demo_diffusion(weights)
    unguided = sample(model, None, seeds=sampling.seeds, steps=sampling.steps, scale=0.0, label="unguided")
    folder = work / "unguided"
    files = write_pngs(unguided.uint8(), sampling.seeds, unguided.ok, folder)
    write_tsv(pd.DataFrame({"seed": sampling.seeds, "file": files}), work / "unguided.tsv")
    inputs = {"encoder": rel(layout.encoder(subject, backbone).model), "rois": rel(layout.rois(subject).rois),
              "demo_clip": rel(layout.demo_clip().model), "truth": rel(layout.simulated_subject("01").truth),
              "oracle": rel(layout.oracle().model), "demo_cnn": rel(layout.demo_cnn().model),
              "features": rel(layout.features(backbone).features), "betas": rel(layout.preprocess(subject).betas),
              "images": rel(layout.stimuli().images), "stimuli": rel(layout.stimuli().table),
              "unguided": work / "unguided.tsv", "unguided_images": folder, "diffusion": weights}
    inputs = {k: str(v) for k, v in inputs.items()}
    ev = dataclasses.replace(EvaluationSettings.from_config(cfg), regions=tuple(regions))
    data = load_evaluation(inputs, ev)
    with torch.no_grad():
        predicted_unguided = data.encoder(torch.from_numpy(data.net.embed(data.unguided.images, progress=False))).numpy()
    natural = natural_stimuli(data, inputs["features"], inputs["betas"])
    rows = {}
    for region, category in zip(regions, data.categories, strict=True):
        settings = BrainDiVESettings.from_config(cfg, region=region)
        guided = guided_images(load_region(inputs, settings), settings)
        kept_table = guided.table[guided.table["kept"]].sort_values("rank")
        row = evaluate_region(region, category, kept_table, guided.pixels[kept_table.index.to_numpy()], data,
                              natural, predicted_unguided, inputs["encoder"]).row
        rows[region] = {"share oracle": row.get("share_kept", np.nan), "share CNN": row.get("share_kept_cnn", np.nan),
                        "true / top natural": row["true_kept"] / row["true_top_measured"],
                        "effect (unguided SDs)": row["true_effect_sd"], "kept": row["n_kept"]}
    return pd.DataFrame.from_dict(rows, orient="index")


if __name__ == "__main__":
    main()
