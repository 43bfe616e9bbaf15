"""Stage ``scanpaths``: load → compute → write for its four rules (displays, observe, train, evaluate)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cortexplorer.io.figures import write_figure
from cortexplorer.io.hdf5 import open_h5, read_strings, write_h5
from cortexplorer.io.images import read_image_set
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.io.torchfile import save_torch
from cortexplorer.provenance import write_sidecar
from cortexplorer.scanpaths import baselines, displays, evaluate, oat, observer
from cortexplorer.scanpaths.eyetracking import read_layout_boxes
from cortexplorer.scanpaths.settings import (
    DisplaySettings,
    EvaluateSettings,
    ObserveSettings,
    PixelSearchSettings,
    TrainSettings,
)
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger("cortexplorer")
SCANPATH_COLUMNS = ("participant", "trial", "step", "slot", "ended")
HELDOUT = ("test", "unseen_layout", "unseen_target")


# ------------------------------------------------------------------------------------------------ loading
@dataclass
class World:
    layouts: pd.DataFrame
    trials: pd.DataFrame  # indexed by trial
    shelf: displays.Shelf
    pixels: dict[str, np.ndarray]  # layout -> display
    layout_boxes: dict[str, np.ndarray]  # layout -> boxes by slot, checked once (eyetracking.read_layout_boxes)
    _crops: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)

    def boxes(self, layout: str) -> np.ndarray:
        return self.layout_boxes[layout]

    def crops(self, layout: str, size: int) -> torch.Tensor:
        """The layout's object crops as OAT's input (n × 3 × size × size in [0, 1]), cut once per layout."""
        if (layout, size) not in self._crops:
            cut = displays.crops(self.pixels[layout], self.boxes(layout), size)
            self._crops[layout, size] = torch.from_numpy(cut).permute(0, 3, 1, 2).float() / 255
        return self._crops[layout, size]

    def scene(self, trial: str) -> observer.Scene:
        t = self.trials.loc[trial]
        rows = self.layouts[self.layouts["layout"] == t["layout"]].sort_values("slot")
        return observer.Scene(grid=rows[["row", "col"]].to_numpy(float), target=int(t["target_slot"]),
                              same_category=(rows["category"] == t["target_category"]).to_numpy())

    def split(self, name: str) -> list[str]:
        return self.trials.index[self.trials["split"] == name].tolist()


def load_world(inputs: Mapping[str, Any]) -> World:
    layouts = read_tsv(inputs["layouts"], required=displays.LAYOUT_COLUMNS)
    trials = read_tsv(inputs["trials"], required=displays.TRIAL_COLUMNS)
    trials["trial"], trials["layout"] = trials["trial"].astype(str), trials["layout"].astype(str)
    layouts["layout"], layouts["stim_id"] = layouts["layout"].astype(str), layouts["stim_id"].astype(str)
    with open_h5(inputs["displays"], made_by="scanpath_displays") as f:
        names = read_strings(f["layout"][:])
        pixels = dict(zip(names, f["displays"][:], strict=True))
        shelf = displays.Shelf(**{k: int(f.attrs[k]) for k in ("rows", "cols", "cell", "gap")})
    return World(layouts=layouts, trials=trials.set_index("trial"), shelf=shelf, pixels=pixels,
                 layout_boxes=read_layout_boxes(layouts, path=inputs["layouts"]))


def read_scanpaths(path: str) -> dict[str, list[tuple[list[int], bool]]]:
    """trial → its scanpaths as (slots, ended)."""
    table = read_tsv(path, required=SCANPATH_COLUMNS)
    out: dict[str, list[tuple[list[int], bool]]] = {}
    for (_, trial), rows in table.groupby(["participant", "trial"], sort=False):
        rows = rows.sort_values("step")
        out.setdefault(str(trial), []).append((rows["slot"].astype(int).tolist(), bool(rows["ended"].iloc[0])))
    return out


# ------------------------------------------------------------------------------------------------ displays
def make_displays_stage(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: DisplaySettings) -> None:
    """Shelf layouts of the object images, one target per trial, splits, and the rendered displays."""
    images = read_image_set(inputs["images"], inputs["table"])
    shelf = displays.Shelf(settings.rows, settings.cols, settings.cell_px, settings.gap_px)
    layouts, trials = displays.make_displays(
        images.table[["stim_id", "category"]], shelf, n_layouts=settings.layouts,
        trials_per_layout=settings.trials_per_layout, heldout_layouts=settings.heldout_layouts,
        heldout_targets=settings.heldout_targets, val_fraction=settings.val_fraction,
        test_fraction=settings.test_fraction, rng=make_rng(settings.seed, "scanpaths", "displays"))
    by_id = dict(zip(images.table["stim_id"].astype(str), images.images, strict=True))
    names = list(dict.fromkeys(layouts["layout"]))
    pixels = np.stack([displays.render(layouts[layouts["layout"] == n], by_id, shelf) for n in names])
    write_tsv(layouts, outputs["layouts"])
    write_tsv(trials, outputs["trials"])
    write_h5(outputs["displays"], {"displays": pixels, "layout": np.asarray(names).astype(str)},
             attrs={"rows": shelf.rows, "cols": shelf.cols, "cell": shelf.cell, "gap": shelf.gap},
             compress=("displays",))
    write_sidecar(outputs["provenance"], stage="scanpaths/displays", seed=settings.seed, settings=asdict(settings),
                  n_layouts=len(names), n_trials=len(trials), splits=trials["split"].value_counts().to_dict())


# ------------------------------------------------------------------------------------------------ observer
def observe_stage(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: ObserveSettings) -> None:
    """``scanpaths_per_trial`` scanpaths of the planted observer on every trial (participants planted-01, ...)."""
    world = load_world(inputs)
    policy = observer.Policy.from_config(settings.policy)
    rows = []
    for trial in world.trials.index:
        scene = world.scene(trial)
        rng = make_rng(settings.seed, "scanpaths", "observer", trial)
        for k in range(settings.scanpaths_per_trial):
            path = observer.sample(policy, scene, rng)
            ended = len(path) < policy.max_fixations
            rows += [{"participant": f"planted-{k + 1:02d}", "trial": trial, "step": i, "slot": s, "ended": ended}
                     for i, s in enumerate(path)]
    table = pd.DataFrame(rows, columns=SCANPATH_COLUMNS)
    write_tsv(table, outputs["scanpaths"])
    write_sidecar(outputs["provenance"], stage="scanpaths/observe", seed=settings.seed, settings=asdict(settings),
                  observer="planted", n_scanpaths=int(table.groupby(["participant", "trial"]).ngroups),
                  mean_length=float(table.groupby(["participant", "trial"]).size().mean()))


# ------------------------------------------------------------------------------------------------ OAT
def _tensors(world: World, items: list[tuple[str, list[int], bool]], crop: int):
    trials = list(dict.fromkeys(t for t, _, _ in items))
    pos = {t: i for i, t in enumerate(trials)}
    crops = torch.stack([world.crops(world.trials.loc[t, "layout"], crop) for t in trials])
    target = torch.tensor([int(world.trials.loc[t, "target_slot"]) for t in trials])
    history, labels = oat.step_labels([p for _, p, _ in items], [e for _, _, e in items], world.shelf.n_slots)
    return crops, target, history, labels, torch.tensor([pos[t] for t, _, _ in items])


def build_oat(model_cfg: Mapping[str, Any], shelf: displays.Shelf, crop: int, seed: int) -> oat.OAT:
    cfg = oat.OATConfig.from_config({**model_cfg, "crop": crop}, rows=shelf.rows, cols=shelf.cols)
    torch.manual_seed(seed)
    return oat.OAT(cfg, seed=seed)


def train_stage(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: TrainSettings) -> None:
    """OAT on the training split's scanpaths, early-stopped on the validation split's per-step NLL."""
    start = time.time()
    world = load_world(inputs)
    paths = read_scanpaths(inputs["scanpaths"])
    model = build_oat(settings.model, world.shelf, settings.crop_px, settings.seed)
    train_trials = [t for t in world.split("train") if t in paths]
    val_items = [(t, p, e) for t in world.split("val") for p, e in paths.get(t, [])]
    if not train_trials or not val_items:
        raise ValueError("OAT needs scanpaths in the train and val splits; scanpaths.tsv has "
                         f"{len(train_trials)} training trials and {len(val_items)} validation scanpaths.")
    val = _tensors(world, val_items, settings.crop_px)
    n = settings.batch_trials

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(train_trials))
        return [_tensors(world, [(train_trials[i], p, e) for i in order[k:k + n] for p, e in paths[train_trials[i]]],
                         settings.crop_px) for k in range(0, len(order), n)]

    result = oat.train(model, batches, lambda m: float(oat.step_nll(m, *val).mean()), epochs=settings.epochs,
                       patience=settings.patience, lr=settings.lr, seed=settings.seed, progress=log.info)
    save_torch({"config": asdict(model.cfg), "state": model.state_dict()}, outputs["model"])
    write_tsv(pd.DataFrame(result.history), outputs["training"])
    write_sidecar(outputs["provenance"], stage="scanpaths/train", seed=settings.seed, settings=asdict(settings),
                  epochs_run=result.epochs, best_epoch=result.best_epoch,
                  n_parameters=sum(p.numel() for p in model.parameters()), seconds=round(time.time() - start, 1))


def load_oat(path: str) -> oat.OAT:
    saved = torch.load(path, map_location="cpu", weights_only=False)
    cfg = oat.OATConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in saved["config"].items()})
    model = oat.OAT(cfg, pe_table=saved["state"]["pe_table"] if cfg.pe == "distance" else None)
    model.load_state_dict(saved["state"])
    model.eval()
    return model


# ------------------------------------------------------------------------------------------------ pixel models
def pixel_search_stage(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: PixelSearchSettings) -> None:
    """eccNET or IVSN on the first ``settings.trials`` trials of each held-out split, fixations mapped to objects."""
    from cortexplorer.models.cnn import load_network
    from cortexplorer.scanpaths.pixel_models import BACKGROUND, object_scanpaths
    from cortexplorer.visual_search.eccnet import eccnet, ivsn

    start = time.time()
    world = load_world(inputs)
    network = load_network(settings.network, settings.network_spec, demo_weights=inputs.get("demo_cnn"),
                           device=settings.device, seed=settings.seed)
    searcher = {"eccnet": eccnet, "ivsn": ivsn}[settings.model](network, deg2px=settings.deg2px,
                                                                   background=BACKGROUND)
    trials = [t for split in HELDOUT for t in world.split(split)[: settings.trials]]
    layouts = [world.trials.loc[t, "layout"] for t in trials]
    paths = object_scanpaths([world.pixels[lay] for lay in layouts], [world.boxes(lay) for lay in layouts],
                             [int(world.trials.loc[t, "target_slot"]) for t in trials], searcher,
                             max_fixations=settings.max_fixations, seed=settings.seed, keys=trials,
                             model=settings.model, batch_size=settings.batch_size)
    rows = [{"participant": settings.model, "trial": t, "step": i, "slot": s,
             "ended": bool(p) and p[-1] == int(world.trials.loc[t, "target_slot"])}
            for t, p in zip(trials, paths, strict=True) for i, s in enumerate(p)]
    write_tsv(pd.DataFrame(rows, columns=SCANPATH_COLUMNS), outputs["scanpaths"])
    write_sidecar(outputs["provenance"], stage="scanpaths/pixel_search", seed=settings.seed,
                  settings=asdict(settings), network=network.identity, n_trials=len(trials),
                  seconds=round(time.time() - start, 1))
    log.info("%s on %d shelf trials: mean length %.2f, %.1f s", settings.model, len(trials),
             float(np.mean([len(p) for p in paths])), time.time() - start)


# ------------------------------------------------------------------------------------------------ evaluation
def _baseline_nll(p: np.ndarray, mean_length: float, path: list[int], ended: bool) -> list[float]:
    stop = 1.0 / mean_length
    out = [-np.log(p[path[0]])] + [-np.log((1 - stop) * p[s]) for s in path[1:]]
    return out + ([-np.log(stop)] if ended else [])


def evaluate_stage(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: EvaluateSettings) -> None:
    """Every model's scanpaths on the held-out splits against the observed ones, with the planted ceilings."""
    world = load_world(inputs)
    paths = read_scanpaths(inputs["scanpaths"])
    policy = observer.Policy.from_config(settings.policy)
    model = load_oat(inputs["model"])
    pixel = {name: read_scanpaths(path) for name, path in zip(settings.pixel_models, inputs.get("pixel", []),
                                                              strict=True)}
    train_paths = [p for t in world.split("train") for p, _ in paths.get(t, [])]
    mean_length = float(np.mean([len(p) for p in train_paths]))
    prior = baselines.centre_prior(train_paths, world.shelf.n_slots)
    targets = {t: int(world.trials.loc[t, "target_slot"]) for t in world.trials.index}
    gen = torch.Generator().manual_seed(settings.seed)
    rows, curves, examples_from, predicted_sample = [], [], [], {}
    for split in HELDOUT:
        trials = [t for t in world.split(split) if t in paths]
        if not trials:
            continue
        observed = {t: [p for p, _ in paths[t]] for t in trials}
        items = [(t, p, e) for t in trials for p, e in paths[t]]
        nll = {"ceiling": float(-np.concatenate([observer.log_likelihood(policy, world.scene(t), p)
                                                  for t, p, _ in items]).mean()),
               "oat": float(oat.step_nll(model, *_tensors(world, items, settings.crop_px)).mean())}
        rng = make_rng(settings.seed, "scanpaths", "evaluate", split)
        predicted = {"ceiling": {t: [observer.sample(policy, world.scene(t), rng) for _ in range(settings.samples)]
                                 for t in trials}}
        crops, target, *_ = _tensors(world, [(t, [0], False) for t in trials], settings.crop_px)
        draws = [oat.decode(model, crops, target, policy.max_fixations, generator=gen) for _ in range(settings.samples)]
        predicted["oat"] = {t: [d[i] for d in draws] for i, t in enumerate(trials)}
        greedy = oat.decode(model, crops, target, policy.max_fixations)
        predicted["oat_greedy"] = {t: [greedy[i]] for i, t in enumerate(trials)}
        predicted_sample.update({t: v[0] for t, v in predicted["oat"].items()})
        examples_from += trials[:2] if split != "test" else []
        for name in settings.baselines:
            predicted[name], losses = {}, []
            for t in trials:
                layout = world.trials.loc[t, "layout"]
                p = baselines.distribution(name, n_objects=world.shelf.n_slots,
                                           crops=world.crops(layout, settings.crop_px).numpy(), target=targets[t],
                                           display=world.pixels[layout], boxes=world.boxes(layout), prior=prior)
                predicted[name][t] = [baselines.sample(p, mean_length, rng, policy.max_fixations)
                                      for _ in range(settings.samples)]
                losses += [x for q, e in paths[t] for x in _baseline_nll(p, mean_length, q, e)]
            nll[name] = float(np.mean(losses))
        for name, file in sorted(pixel.items()):
            searched = {t: [p for p, _ in v] for t, v in file.items() if t in observed}
            predicted[name] = searched
        for name, pred in predicted.items():
            scored = sorted(pred)
            scores, curve = evaluate.score(pred, {t: observed[t] for t in scored}, targets, policy.max_fixations)
            rows.append({"split": split, "model": name, "n_trials": len(scored), "nll_per_step": nll.get(name, np.nan),
                         **scores})
            curves += [{"split": split, "model": name, "fixations": k + 1, "found": float(v)} for k, v in
                       enumerate(curve)]
        log.info("%s: %d trials; NLL/step ceiling %.3f, OAT %.3f", split, len(trials), nll["ceiling"], nll["oat"])
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["metrics"])
    write_tsv(pd.DataFrame(curves), outputs["curves"])
    examples = [(t, paths[t][0][0], predicted_sample[t]) for t in examples_from]
    write_figure(_figure(table, pd.DataFrame(curves), model, world, examples), outputs["figure"], dpi=100)
    write_sidecar(outputs["provenance"], stage="scanpaths/evaluate", seed=settings.seed, settings=asdict(settings))


def _figure(table: pd.DataFrame, curves: pd.DataFrame, model: oat.OAT, world: World,
            examples: list[tuple[str, list[int], list[int]]]) -> plt.Figure:
    """Top: sequence score and behaviour Δ per split and model, the positional encoding's similarity map, the
    unseen-layout target-found curves. Bottom: an observed (white) and an OAT-sampled (orange) scanpath on a few
    held-out displays, the target boxed in green."""
    splits = [s for s in HELDOUT if s in set(table["split"])]
    fig = plt.figure(figsize=(17, 6.5))
    grid = fig.add_gridspec(2, 4, height_ratios=[1.6, 1])
    models = list(dict.fromkeys(table["model"]))
    colours = {m: plt.cm.tab10(i) for i, m in enumerate(models)}
    for col, metric, label in ((0, "sequence_score", "sequence score (higher is better)"),
                               (1, "behaviour_delta", "behaviour Δ (lower is better)")):
        ax = fig.add_subplot(grid[0, col])
        width = 0.8 / len(models)
        for i, m in enumerate(models):
            vals = [table[(table["split"] == s) & (table["model"] == m)][metric].iloc[0] for s in splits]
            ax.bar(np.arange(len(splits)) + i * width, vals, width, color=colours[m], label=m)
        ax.set_xticks(np.arange(len(splits)) + 0.4 - width / 2, splits, fontsize=8)
        ax.set_title(label, fontsize=9)
        if col == 0:
            ax.set_ylim(0, 1)  # the legend sits above the bars
            ax.legend(fontsize=7, ncol=2)
    cfg = model.cfg
    ax = fig.add_subplot(grid[0, 2])
    sim = oat.slot_similarity(model.pe_table.detach(), cfg.rows, cfg.cols, cfg.d_pe)
    centre = (cfg.rows // 2) * cfg.cols + cfg.cols // 2
    im = ax.imshow(sim[centre].reshape(cfg.rows, cfg.cols), cmap="viridis")
    ax.set_title(f"{cfg.pe} positional encoding:\ncosine to the centre slot", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax = fig.add_subplot(grid[0, 3])
    split = "unseen_layout" if "unseen_layout" in splits else splits[0]
    for m in models:
        c = curves[(curves["split"] == split) & (curves["model"] == m)]
        ax.plot(c["fixations"], c["found"], color=colours[m], label=m)
    ax.set(title=f"target found within k fixations ({split})", xlabel="fixations", ylim=(0, 1))
    ax.title.set_fontsize(9)
    for i, (trial, seen, predicted) in enumerate(examples[:4]):
        ax = fig.add_subplot(grid[1, i])
        layout = world.trials.loc[trial, "layout"]
        boxes = world.boxes(layout)
        ax.imshow(world.pixels[layout])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        x0, y0, x1, y1 = boxes[int(world.trials.loc[trial, "target_slot"])]
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="lime", lw=2))
        for path, colour, dx in ((seen, "white", -2), (predicted, "orange", 2)):
            xy = centres[path] + dx
            ax.plot(xy[:, 0], xy[:, 1], "-o", color=colour, ms=3, lw=1.2)
        ax.set_title(f"{trial} ({world.trials.loc[trial, 'split']}): observed white, OAT sample orange", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
