"""Stage `triplets`: decorrelated triplets from a network's layers, choices, choice models and their figures.

Four steps, each a rule and an entry point ``(inputs, outputs, settings)`` that loads, computes, writes:
:func:`search` (images + network → triplets.tsv, grid coverage), :func:`choices` (human choices read and
checked, or simulated observers), :func:`fit` (the two-layer choice model per subject and pooled, every
layer's cross-validated predictivity, the noise ceiling) and :func:`odd_one_out` (a SPoSE embedding).
Similarity is standardised by each layer's σ over the same seeded image selection in the search and in
the fit, so the weights are "per σ of similarity" in both.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cortexplorer.io.figures import write_figure
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.models.cnn import Cnn, default_layers, layer_table, load_network, resolve_layer
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.triplets import spose
from cortexplorer.triplets.choices import (
    ChoiceFit,
    analytic_ceiling,
    cross_validated_accuracy,
    fit_choice_model,
    read_choices,
    repeat_ceiling,
    simulate_observers,
)
from cortexplorer.triplets.search import (
    decorrelated_triplets,
    grid_coverage,
    random_triplet_differences,
    similarity_matrix,
)
from cortexplorer.triplets.settings import (
    NetworkSettings,
    OddOneOutSettings,
    TripletChoicesSettings,
    TripletFitSettings,
    TripletSearchSettings,
)

log = logging.getLogger(__name__)
TRIPLET_COLUMNS = ("root", "image1", "image2", "b_high", "b_low", "sign", "d_high", "d_low", "z_high", "z_low")
ACTIVATION_BATCH = 64  # images per forward pass when collecting layer activations
N_RANDOM_TRIPLETS = 5000  # random triplets whose similarity differences show the natural correlation
def select_images(image_set: ImageSet, max_images: int, seed: int) -> ImageSet:
    """A seeded random subset of at most ``max_images`` images, in the set's order."""
    n = len(image_set)
    if n <= max_images:
        return image_set
    keep = np.sort(make_rng(seed, "triplets", "images").choice(n, max_images, replace=False))
    return ImageSet(image_set.images[keep], image_set.table.iloc[keep].reset_index(drop=True))


def _layer_sizes(cnn: Cnn, image: np.ndarray, layers: Sequence[str]) -> dict[str, int]:
    """Values per image at each layer (one forward pass of one image)."""
    import torch

    sizes: dict[str, int] = {}
    modules = dict(cnn.model.named_modules())
    hooks = [modules[layer].register_forward_hook(
        lambda _m, _i, out, layer=layer: sizes.__setitem__(layer, int(out[0].numel()))) for layer in layers]
    try:
        with torch.no_grad():
            cnn(torch.from_numpy(image[None]).permute(0, 3, 1, 2).float().to(cnn.mean.device) / 255.0)
    finally:
        for h in hooks:
            h.remove()
    return sizes


def layer_activations(cnn: Cnn, images: np.ndarray, layers: Sequence[str], *, batch_size: int,
                      limit_gb: float) -> Iterator[tuple[str, np.ndarray]]:
    """(layer, N × D activations) for each layer, computing as many layers per forward pass as fit ``limit_gb``;
    a layer that alone exceeds it is an error before any long pass."""
    sizes = _layer_sizes(cnn, images[0], layers)
    gb = {layer: 4 * len(images) * sizes[layer] / 1e9 for layer in layers}
    biggest = max(gb, key=gb.get)
    if gb[biggest] > limit_gb:
        raise MemoryError(f"Layer {biggest} gives {sizes[biggest]} values per image: {len(images)} images need "
                          f"{gb[biggest]:.1f} GB of activations (limit triplets.max_activation_gb = {limit_gb}). "
                          "Lower triplets.max_images, or use later layers (triplets.low_layer / predictivity_layers).")
    groups: list[list[str]] = [[]]
    for layer in layers:
        if groups[-1] and sum(gb[g] for g in groups[-1]) + gb[layer] > limit_gb:
            groups.append([])
        groups[-1].append(layer)
    for group in groups:
        acts = cnn.activations(images, group, batch_size=batch_size)
        for layer in group:
            yield layer, acts.pop(layer)




def _load_network(net: NetworkSettings, inputs: Mapping[str, Any]) -> Cnn:
    return load_network(net.name, net.spec, demo_weights=inputs.get("demo_cnn"), device=net.device, seed=net.seed)


def _named_layers(cnn: Cnn, net: NetworkSettings) -> dict[str, str]:
    """The network's module names of ``triplets.low_layer`` and ``triplets.high_layer``."""
    return {"low": resolve_layer(cnn, net.low_layer, "triplets.low_layer"),
            "high": resolve_layer(cnn, net.high_layer, "triplets.high_layer")}


# --- search ---------------------------------------------------------------------------------------


@dataclass
class TripletSearchResult:
    """The searched triplets (image ids, shown order), grid coverage and the random triplets' differences."""

    table: pd.DataFrame
    coverage: pd.DataFrame
    natural_high: np.ndarray
    natural_low: np.ndarray
    sd_high: float
    sd_low: float
    corr_found: float
    corr_natural: float
    covered: float


def search(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: TripletSearchSettings) -> None:
    """Triplets whose high- and low-level similarity differences hit a grid independently (see ``search.py``)."""
    start = time.time()
    net = settings.network
    cnn = _load_network(net, inputs)
    layers = _named_layers(cnn, net)
    if layers["low"] == layers["high"]:
        raise ValueError(f"triplets.low_layer ({net.low_layer}) and triplets.high_layer ({net.high_layer}) are the "
                         f"same layer {layers['low']!r}; pick two different layers.")
    images = select_images(read_image_set(inputs["images"], inputs["table"]), net.max_images, net.seed)
    log.info("triplet search on %d images of %s; low %s (%s), high %s (%s)", len(images), inputs["images"],
             net.low_layer, layers["low"], net.high_layer, layers["high"])
    result = search_triplets(cnn, images, layers, settings)
    write_tsv(result.table[[*TRIPLET_COLUMNS, "target_high", "target_low"]], outputs["triplets"])
    write_tsv(result.coverage, outputs["coverage"])
    write_figure(_search_figure(result, settings.grid.n_bins, net.low_layer, net.high_layer), outputs["figure"],
                 dpi=110)
    write_sidecar(outputs["provenance"], stage="triplets/search", seed=net.seed,
                  settings={"low_layer": net.low_layer, "high_layer": net.high_layer, "max_images": net.max_images,
                            "grid": dataclasses.asdict(settings.grid), "max_triplets": settings.max_triplets,
                            "images": inputs["images"]},
                  network=cnn.identity, layers=layers, n_images=len(images), n_triplets=len(result.table),
                  corr_low_high=result.corr_found, corr_low_high_random=result.corr_natural,
                  grid_coverage=result.covered, sd_high=result.sd_high, sd_low=result.sd_low,
                  seconds=round(time.time() - start, 1))


def search_triplets(cnn: Cnn, images: ImageSet, layers: Mapping[str, str],
                    settings: TripletSearchSettings) -> TripletSearchResult:
    """Search the grid on the two layers' similarity matrices; image ids in random shown order."""
    seed, grid = settings.network.seed, settings.grid
    if len(images) < 3 * min(settings.max_triplets, grid.n_bins ** 2):  # too few images: an error before the pass
        decorrelated_triplets(np.zeros((len(images),) * 2), np.zeros((len(images),) * 2), grid,
                              settings.max_triplets, make_rng(seed))
    sims = {layer: similarity_matrix(acts) for layer, acts in layer_activations(
        cnn, images.images, [layers["low"], layers["high"]], batch_size=ACTIVATION_BATCH,
        limit_gb=settings.network.max_activation_gb)}
    s_high, s_low = sims[layers["high"]], sims[layers["low"]]
    found = decorrelated_triplets(s_high, s_low, grid, settings.max_triplets, make_rng(seed, "triplets", "search"))
    table = _shown_triplets(found, images.table["stim_id"].astype(str).to_numpy(), seed)
    nat_high, nat_low = random_triplet_differences(s_high, s_low, N_RANDOM_TRIPLETS,
                                                   make_rng(seed, "triplets", "random"))
    r_found = float(np.corrcoef(table["d_low"], table["d_high"])[0, 1]) if len(table) > 2 else float("nan")
    r_natural = float(np.corrcoef(nat_low, nat_high)[0, 1])
    coverage = grid_coverage(found, grid.n_bins)
    covered = float((coverage["n_triplets"] > 0).mean())
    log.info("%d triplets; corr(d_low, d_high) = %.3f (random triplets: %.3f); grid coverage %.0f%%", len(table),
             r_found, r_natural, 100 * covered)
    return TripletSearchResult(table, coverage, nat_high, nat_low, found.attrs["sd_high"], found.attrs["sd_low"],
                               r_found, r_natural, covered)


def _shown_triplets(found: pd.DataFrame, ids: np.ndarray, seed: int) -> pd.DataFrame:
    """The search's triplets with image ids and z-scored differences, image1 and image2 in random order."""
    table = found.copy()
    for col in ("root", "image1", "image2"):
        table[col] = ids[found[col].to_numpy()]
    table["z_high"] = table["d_high"] / found.attrs["sd_high"]
    table["z_low"] = table["d_low"] / found.attrs["sd_low"]
    # the search puts the high-level-similar image second; shown in random order, so that position alone
    # predicts nothing (b_high, b_low and sign keep their meaning; the differences change sign with the order)
    swap = make_rng(seed, "triplets", "order").random(len(table)) < 0.5
    table.loc[swap, ["image1", "image2"]] = table.loc[swap, ["image2", "image1"]].to_numpy()
    for col in ("d_high", "d_low", "z_high", "z_low", "target_high", "target_low"):
        table.loc[swap, col] = -table.loc[swap, col]
    return table


def _search_figure(result: TripletSearchResult, n_bins: int, low_name: str, high_name: str) -> plt.Figure:
    table, coverage = result.table, result.coverage
    nat_high, nat_low = result.natural_high, result.natural_low
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    grid = coverage.pivot(index="b_low", columns="b_high", values="n_triplets")
    im = axes[0].imshow(grid.to_numpy(), origin="lower", cmap="viridis",
                        extent=(0.5, n_bins + 0.5, 0.5, n_bins + 0.5))
    fig.colorbar(im, ax=axes[0], label="triplets")
    axes[0].set(xlabel=f"high-level difference bin ({high_name})", ylabel=f"|low-level difference| bin ({low_name})",
                title=f"grid coverage: {100 * (coverage['n_triplets'] > 0).mean():.0f}% of cells")
    axes[1].scatter(nat_high / result.sd_high, nat_low / result.sd_low, s=3, alpha=0.2, c="grey",
                    label=f"random triplets (r = {np.corrcoef(nat_low, nat_high)[0, 1]:.2f})")
    r = np.corrcoef(table["z_low"], table["z_high"])[0, 1] if len(table) > 2 else float("nan")
    axes[1].scatter(table["z_high"], table["z_low"], s=6, c=np.where(table["sign"] > 0, "tab:blue", "tab:red"),
                    label=f"searched (r = {r:.2f}); blue congruent, red conflict")
    axes[1].set(xlabel=f"Δ high-level similarity / σ ({high_name})", ylabel=f"Δ low-level similarity / σ ({low_name})",
                title="similarity differences (image2 − image1)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# --- choices --------------------------------------------------------------------------------------


def choices(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: TripletChoicesSettings) -> None:
    """Human choices (``inputs["choices"]``), checked against the image set, or simulated observers on the
    searched triplets."""
    if inputs.get("choices"):
        ids = read_tsv(inputs["table"], required=["stim_id"])["stim_id"].astype(str).to_numpy()
        table = read_choices(inputs["choices"], ids)
        source = {"choices": str(inputs["choices"])}
        log.info("read %d choices of %d subject(s) from %s", len(table), table["subject"].nunique(),
                 inputs["choices"])
    else:
        table = simulated_choices(read_triplets(inputs["triplets"]), settings)
        source = {"observers": dataclasses.asdict(settings.observers)}
    write_tsv(table, outputs["choices"])
    write_sidecar(outputs["provenance"], stage="triplets/choices", seed=settings.seed, settings=source,
                  n_choices=len(table), n_subjects=int(table["subject"].nunique()))


def read_triplets(path: str) -> pd.DataFrame:
    """``triplets.tsv`` of the search, image ids as strings; an empty search is an error."""
    triplets = read_tsv(path, required=TRIPLET_COLUMNS)
    for col in ("root", "image1", "image2"):
        triplets[col] = triplets[col].astype(str)
    if triplets.empty:
        raise ValueError(f"'{path}' holds no triplets, so there is nothing to simulate choices on. Loosen "
                         "the search (triplets.tolerance, triplets.bin_size, triplets.max_images).")
    return triplets


def simulated_choices(triplets: pd.DataFrame, settings: TripletChoicesSettings) -> pd.DataFrame:
    obs = settings.observers
    table = simulate_observers(triplets, n_observers=obs.n, n_trials=obs.trials, beta_high=obs.beta_high,
                               beta_low=obs.beta_low, jitter=obs.jitter, lapse=obs.lapse,
                               rng=make_rng(settings.seed, "triplets", "observers"))
    log.info("simulated %d observers × %d trials (β_high %.2f, β_low %.2f, lapse %.2f)", obs.n, obs.trials,
             obs.beta_high, obs.beta_low, obs.lapse)
    return table


# --- fit ------------------------------------------------------------------------------------------


@dataclass
class TripletFitResult:
    """The choice models: weights per subject, each layer's predictivity, the ceilings, the pooled fit."""

    weights: pd.DataFrame
    predictivity: pd.DataFrame
    ceilings: dict[str, float]
    x: np.ndarray  # trials × (Δhigh, Δlow) per σ
    y: np.ndarray  # 1 where image2 was chosen
    pooled: ChoiceFit
    layers: list[str]

    @property
    def accuracy_two_layer(self) -> float:
        return float(self.predictivity["accuracy"].iloc[0])


def fit(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: TripletFitSettings) -> None:
    """The two-layer choice model (pooled and per subject), every layer's predictivity and the noise ceiling."""
    start = time.time()
    net = settings.network
    table = read_tsv(inputs["choices"], required=["root", "image1", "image2", "choice", "subject"])
    for col in ("root", "image1", "image2", "choice", "subject"):
        table[col] = table[col].astype(str)
    cnn = _load_network(net, inputs)
    full = read_image_set(inputs["images"], inputs["table"])
    chosen = select_images(full, net.max_images, net.seed)  # the search's selection: σ over the same images
    result = fit_choice_models(cnn, _with_choice_images(full, chosen, table), len(chosen), table, settings)
    write_tsv(result.weights, outputs["weights"])
    write_tsv(result.predictivity, outputs["predictivity"])
    write_figure(_surface_figure(result.x, result.y, result.pooled, net.high_layer, net.low_layer),
                 outputs["surface"], dpi=110)
    write_figure(_layers_figure(result.predictivity, result.ceilings), outputs["layers"], dpi=110)
    write_sidecar(outputs["provenance"], stage="triplets/fit", seed=net.seed,
                  settings={"low_layer": net.low_layer, "high_layer": net.high_layer, "layers": result.layers,
                            "cv_folds": settings.cv_folds, "max_images": net.max_images},
                  network=cnn.identity, n_trials=len(table), **result.ceilings,
                  accuracy_two_layer=result.accuracy_two_layer, seconds=round(time.time() - start, 1))


def _with_choice_images(full: ImageSet, chosen: ImageSet, table: pd.DataFrame) -> ImageSet:
    """``chosen`` followed by the images of the choices outside it (human triplets may use any image)."""
    needed = set(table[["root", "image1", "image2"]].to_numpy().ravel())
    extra = np.flatnonzero(full.table["stim_id"].astype(str).isin(needed - set(chosen.table["stim_id"].astype(str))))
    if not len(extra):
        return chosen
    log.info("%d images of the choices are outside the %d selected; adding them", len(extra), len(chosen))
    return ImageSet(np.concatenate([chosen.images, full.images[extra]]),
                    pd.concat([chosen.table, full.table.iloc[extra]], ignore_index=True))


def fit_choice_models(cnn: Cnn, images: ImageSet, n_reference: int, table: pd.DataFrame,
                      settings: TripletFitSettings) -> TripletFitResult:
    """Choice models on the layers' similarity differences (σ over the first ``n_reference`` images)."""
    net = settings.network
    named = _named_layers(cnn, net)
    layers = [resolve_layer(cnn, name, "triplets.predictivity_layers") for name in settings.predictivity_layers] \
        or default_layers(cnn)
    all_layers = list(dict.fromkeys([named["low"], named["high"], *layers]))
    z = _layer_z(cnn, images, n_reference, table, all_layers, batch_size=ACTIVATION_BATCH,
                 limit_gb=net.max_activation_gb)
    y = (table["choice"] == table["image2"]).to_numpy().astype(float)
    triplet_id = table[["root", "image1", "image2"]].agg("|".join, axis=1).to_numpy()
    x2 = np.column_stack([z[named["high"]], z[named["low"]]])
    weights = _choice_weights(table, x2, y)
    rng_seed = int(make_rng(net.seed, "triplets", "cv").integers(2 ** 31))

    def accuracy(x: np.ndarray) -> float:
        return cross_validated_accuracy(x, y, triplet_id, folds=settings.cv_folds, lapse=True, seed=rng_seed)

    pred = [{"model": f"{net.high_layer} + {net.low_layer}", "layer": "both", "alias": "", "accuracy": accuracy(x2)}]
    aliases = {r["layer"]: r["alias"] for r in layer_table(cnn)}
    for layer in layers:
        acc = accuracy(z[layer].to_numpy())
        pred.append({"model": "one layer", "layer": layer, "alias": aliases.get(layer, layer), "accuracy": acc})
        log.info("layer %s (%s): cross-validated accuracy %.3f", layer, aliases.get(layer, layer), acc)
    predictivity = pd.DataFrame(pred)
    ceiling, n_repeat = repeat_ceiling(y, triplet_id)
    ceilings = {"repeat_ceiling": ceiling, "repeat_trials": n_repeat}
    if "p_image2" in table.columns:
        ceilings["analytic_ceiling"] = analytic_ceiling(table["p_image2"].astype(float).to_numpy())
    for key, value in ceilings.items():
        predictivity[key] = value
    log.info("two-layer model: accuracy %.3f; ceiling from %d repeated trials %.3f%s", pred[0]["accuracy"], n_repeat,
             ceiling, f", analytic {ceilings['analytic_ceiling']:.3f}" if "analytic_ceiling" in ceilings else "")
    return TripletFitResult(weights, predictivity, ceilings, x2, y, fit_choice_model(x2, y, lapse=True), layers)


def _choice_weights(table: pd.DataFrame, x2: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """The two-layer model fitted pooled and per subject (with the planted weights, when simulated)."""
    rows = []
    for subject, idx in [("pooled", np.arange(len(table)))] + [
            (s, np.flatnonzero(table["subject"].to_numpy() == s)) for s in sorted(table["subject"].unique())]:
        m = fit_choice_model(x2[idx], y[idx], lapse=True)
        row = {"subject": subject, "n_trials": len(idx), "intercept": m.coef[0], "beta_high": m.coef[1],
               "beta_high_se": m.se[1], "beta_low": m.coef[2], "beta_low_se": m.se[2], "lapse": m.lapse,
               "lapse_se": m.lapse_se}
        if "beta_high_true" in table.columns:
            sub = table.iloc[idx]
            row.update(beta_high_true=float(sub["beta_high_true"].astype(float).mean()),
                       beta_low_true=float(sub["beta_low_true"].astype(float).mean()))
        rows.append(row)
    return pd.DataFrame(rows)


def _layer_z(cnn: Cnn, images: ImageSet, n_reference: int, trials: pd.DataFrame, layers: Sequence[str], *,
             batch_size: int, limit_gb: float) -> pd.DataFrame:
    """Per trial and layer: the similarity difference (image2 − image1 to the root) divided by the layer's σ
    over the first ``n_reference`` images (the search's selection)."""
    index = {sid: i for i, sid in enumerate(images.table["stim_id"].astype(str))}
    root, a, b = (trials[c].map(index).to_numpy() for c in ("root", "image1", "image2"))
    out = {}
    for layer, acts in layer_activations(cnn, images.images, layers, batch_size=batch_size, limit_gb=limit_gb):
        sim = similarity_matrix(acts)  # N × N: indexing it avoids a copy of the activations per trial
        del acts
        sd = float(sim[:n_reference, :n_reference].std())
        out[layer] = (sim[root, b].astype(np.float64) - sim[root, a]) / sd
    return pd.DataFrame(out)


def _surface_figure(x: np.ndarray, y: np.ndarray, model, high_name: str, low_name: str) -> plt.Figure:
    """P(choose image2) over (Δhigh, Δlow): observed in bins, and the fitted model."""
    edges_h = np.quantile(x[:, 0], np.linspace(0, 1, 9))
    edges_l = np.quantile(x[:, 1], np.linspace(0, 1, 9))
    ih = np.clip(np.searchsorted(edges_h, x[:, 0], side="right") - 1, 0, 7)
    il = np.clip(np.searchsorted(edges_l, x[:, 1], side="right") - 1, 0, 7)
    observed = np.full((8, 8), np.nan)
    for a in range(8):
        for b in range(8):
            sel = (ih == a) & (il == b)
            if sel.sum() >= 5:
                observed[b, a] = y[sel].mean()
    gh, gl = np.meshgrid(np.linspace(x[:, 0].min(), x[:, 0].max(), 60), np.linspace(x[:, 1].min(), x[:, 1].max(), 60))
    fitted = model.predict_proba(np.column_stack([gh.ravel(), gl.ravel()])).reshape(gh.shape)
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained")
    im = axes[0].pcolormesh(edges_h, edges_l, observed, cmap="RdBu_r", vmin=0, vmax=1)
    axes[0].set(title="observed P(choose image2), octile bins", xlabel=f"Δ high / σ ({high_name})",
                ylabel=f"Δ low / σ ({low_name})")
    axes[1].contourf(gh, gl, fitted, levels=np.linspace(0, 1, 11), cmap="RdBu_r", vmin=0, vmax=1)
    axes[1].contour(gh, gl, fitted, levels=[0.5], colors="k", linewidths=1)
    axes[1].set(title=f"fitted: β_high {model.coef[1]:.2f}, β_low {model.coef[2]:.2f}, lapse {model.lapse:.3f}\n"
                      "(black: P = 0.5)",
                xlabel=f"Δ high / σ ({high_name})", ylabel=f"Δ low / σ ({low_name})")
    fig.colorbar(im, ax=axes, label="P(choose image2)")
    return fig


def _layers_figure(predictivity: pd.DataFrame, ceilings: Mapping[str, float]) -> plt.Figure:
    one = predictivity[predictivity["model"] == "one layer"]
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [a or layer for a, layer in zip(one["alias"], one["layer"], strict=True)]
    ax.plot(range(len(one)), one["accuracy"], "o-", label="one layer")
    both = predictivity[predictivity["model"] != "one layer"]
    ax.axhline(float(both["accuracy"].iloc[0]), color="tab:green", ls="-.", label=f"both ({both['model'].iloc[0]})")
    ax.axhline(ceilings["repeat_ceiling"], color="k", ls="--", label="noise ceiling (repeated triplets)")
    if "analytic_ceiling" in ceilings:
        ax.axhline(ceilings["analytic_ceiling"], color="grey", ls=":", label="analytic ceiling (simulated)")
    ax.axhline(0.5, color="lightgrey", lw=1)
    ax.set_xticks(range(len(one)), labels, rotation=30)
    ax.set(ylabel="cross-validated choice accuracy", title="which layer's similarity predicts the choices")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- odd one out (SPoSE) --------------------------------------------------------------------------


@dataclass
class OddOneOutObjects:
    """The objects and their odd-one-out triplets (THINGS order), and the planted embedding when simulated."""

    triplets: np.ndarray
    n_objects: int
    labels: list[str]
    source: dict[str, Any]
    images: np.ndarray | None = None  # the objects' images, when they are stimuli
    planted: np.ndarray | None = None  # objects × planted dimensions (simulated only)
    planted_names: list[str] = dataclasses.field(default_factory=list)


@dataclass
class OddOneOutResult:
    """The pruned SPoSE embedding, its dimensions, held-out accuracy and the noise ceilings."""

    W: np.ndarray  # objects × kept dimensions, sorted by total weight
    dimensions: pd.DataFrame
    fit: spose.SposeFit
    accuracy: float
    ceiling: float
    ceiling_kind: str
    ceilings: dict[str, float]
    counts: dict[str, int]  # n_train, n_heldout, n_repeated
    matched: np.ndarray | None  # per planted dimension: r with its fitted dimension


def odd_one_out(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: OddOneOutSettings) -> None:
    """SPoSE on odd-one-out triplets: a THINGS-format file (``inputs["triplets"]``), or (no file) triplets
    simulated from a planted sparse embedding of the stimuli (one dimension per category plus
    ``n_random_dims`` sparse ones).

    Held-out accuracy is compared with the noise ceiling: analytic E[max p] when the embedding is planted,
    otherwise the modal agreement on repeated triplets of the file (nan if it repeats none).
    """
    start = time.time()
    rng = make_rng(settings.seed, "triplets", "odd_one_out")
    if inputs.get("triplets"):
        objects = read_things_objects(inputs["triplets"], inputs.get("labels"))
    else:
        objects = planted_objects(read_image_set(inputs["images"], inputs["table"]), inputs["table"], settings, rng)
    result = fit_odd_one_out(objects, settings, rng)
    W, n_obj, labels = result.W, objects.n_objects, objects.labels
    embedding = pd.DataFrame(W, columns=[f"dim{d + 1}" for d in range(W.shape[1])])
    embedding.insert(0, "object", labels[:n_obj] if len(labels) >= n_obj else list(range(n_obj)))
    write_tsv(embedding, outputs["embedding"])
    write_tsv(result.dimensions, outputs["dimensions"])
    write_figure(_dimensions_figure(W, labels, objects.images, result.fit), outputs["figure"], dpi=100)
    extra = {} if result.matched is None else {"planted_r": [float(r) for r in result.matched],
                                               "n_dims_planted": objects.planted.shape[1]}
    hyper = settings.spose
    write_sidecar(outputs["provenance"], stage="triplets/odd_one_out", seed=settings.seed,
                  settings={**objects.source, "n_dims": hyper.n_dims, "l1": hyper.l1, "epochs": hyper.epochs,
                            "batch_size": hyper.batch_size, "learning_rate": hyper.lr,
                            "prune_threshold": settings.prune_threshold, "heldout_fraction": settings.heldout_fraction},
                  n_objects=n_obj, **result.counts, n_dims_kept=int(W.shape[1]), heldout_accuracy=result.accuracy,
                  ceiling=result.ceiling, ceiling_kind=result.ceiling_kind, seconds=round(time.time() - start, 1),
                  **result.ceilings, **extra)


def read_things_objects(triplets_path: str, labels_path: str | None) -> OddOneOutObjects:
    """A THINGS-format triplet file and, optionally, one label per object."""
    data = spose.read_things_triplets(triplets_path)
    n_obj = int(data.max()) + 1
    labels = _read_labels(labels_path, n_obj) if labels_path else [str(i) for i in range(n_obj)]
    return OddOneOutObjects(data, max(n_obj, len(labels)), labels, {"triplets": str(triplets_path)})


def planted_objects(image_set: ImageSet, table_path: str, settings: OddOneOutSettings,
                    rng: np.random.Generator) -> OddOneOutObjects:
    """``n_objects`` seeded stimuli, a planted embedding over their categories, and its simulated choices."""
    world, n_objects = settings.planted, settings.planted.n_objects
    image_set = select_images(image_set, n_objects, settings.seed)
    if len(image_set) < n_objects:
        raise ValueError(f"triplets.odd_one_out.n_objects is {n_objects} but '{table_path}' has only "
                         f"{len(image_set)} images; lower n_objects.")
    cats, codes = np.unique(image_set.table["category"].astype(str), return_inverse=True)
    planted = spose.planted_embedding(n_objects, codes.astype(np.int64), len(cats), world.n_random_dims, rng,
                                      scale=world.planted_scale)
    data, _ = spose.simulate_odd_one_out(planted, world.n_triplets, rng, temperature=settings.temperature,
                                         repeats=world.repeats)
    labels = [f"{sid} ({cat})" for sid, cat in zip(image_set.table["stim_id"], image_set.table["category"],
                                                  strict=True)]
    source = {"simulated": {"objects": table_path, "n_triplets": world.n_triplets,
                            "temperature": settings.temperature, "planted_scale": world.planted_scale,
                            "n_random_dims": world.n_random_dims}}
    names = [f"category {c}" for c in cats] + [f"random {i + 1}" for i in range(world.n_random_dims)]
    return OddOneOutObjects(data, n_objects, labels, source, image_set.images, planted, names)


def fit_odd_one_out(objects: OddOneOutObjects, settings: OddOneOutSettings,
                    rng: np.random.Generator) -> OddOneOutResult:
    """Fit SPoSE on the single triplets (a held-out share kept back), prune it, score it against the ceilings."""
    data, n_obj, planted = objects.triplets, objects.n_objects, objects.planted
    # repeated triplets (same three objects) only measure the ceiling; the rest is split into train and held out
    key = np.sort(data, axis=1)
    _, group, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    repeated = counts[group.ravel()] > 1
    single = np.flatnonzero(~repeated)
    held = rng.random(len(single)) < settings.heldout_fraction
    train, heldout = data[single[~held]], data[single[held]]
    if len(heldout) == 0 or len(train) == 0:
        raise ValueError(f"{len(single)} odd-one-out triplets (not counting repeats) are too few to hold out "
                         f"{settings.heldout_fraction:.0%}; give more triplets.")
    log.info("SPoSE on %d objects: %d training, %d held-out, %d repeated triplets", n_obj, len(train), len(heldout),
             int(repeated.sum()))
    result = spose.fit_spose(train, n_obj, settings.spose, device=settings.device, validation=heldout)
    W, kept = spose.prune_dimensions(result.W, settings.prune_threshold, return_index=True)
    accuracy = spose.odd_one_out_accuracy(result.W, heldout)
    ceilings = _repeat_ceilings(data[repeated]) if repeated.any() else {
        "repeat_ceiling_modal": float("nan"), "repeat_ceiling_leave_one_out": float("nan")}
    if planted is not None:
        ceiling = spose.analytic_ceiling(planted, heldout, settings.temperature)
        ceiling_kind = "analytic E[max p] of the planted embedding on the held-out triplets"
    else:
        ceiling, ceiling_kind = ceilings["repeat_ceiling_modal"], "modal agreement on repeated triplets"
    matched = index = None
    if planted is not None and W.shape[1]:
        matched, index = spose.match_dimensions(W, planted, return_index=True)
    dims = _dimension_table(W, kept, objects, settings.prune_threshold, matched, index)
    log.info("SPoSE: %d dimensions kept; held-out accuracy %.4f, ceiling %.4f (%s)%s", W.shape[1], accuracy, ceiling,
             ceiling_kind, "" if matched is None else f"; planted dimensions matched with r = "
             f"{', '.join(f'{r:.3f}' for r in matched)}")
    counts = {"n_train": len(train), "n_heldout": len(heldout), "n_repeated": int(repeated.sum())}
    return OddOneOutResult(W, dims, result, accuracy, ceiling, ceiling_kind, ceilings, counts, matched)


def _repeat_ceilings(repeated: np.ndarray) -> dict[str, float]:
    """Modal agreement (THINGS / Brain-Score; biased up at few repeats) and leave-one-out (each trial predicted
    by the mode of its triplet's other trials; biased slightly down) on the repeated triplets."""
    return {"repeat_ceiling_modal": spose.repeat_ceiling(repeated)[0],
            "repeat_ceiling_leave_one_out": spose.repeat_ceiling(repeated, leave_one_out=True)[0]}


def _dimension_table(W: np.ndarray, kept: np.ndarray, objects: OddOneOutObjects, threshold: float,
                     matched: np.ndarray | None, index: np.ndarray | None) -> pd.DataFrame:
    """One row per kept dimension: weights, top objects and (planted) the matched planted dimension."""
    rows = []
    for d in range(W.shape[1]):
        top = np.argsort(-W[:, d], kind="stable")[:8]
        row = {"dimension": d + 1, "fitted_column": int(kept[d]), "total_weight": float(W[:, d].sum()),
               "max_weight": float(W[:, d].max()), "n_objects_above_threshold": int((W[:, d] > threshold).sum()),
               "top_objects": "; ".join(objects.labels[i] for i in top)}
        if matched is not None:
            planted_dim = np.flatnonzero(index == d)
            row["planted"] = objects.planted_names[planted_dim[0]] if len(planted_dim) else ""
            row["planted_r"] = float(matched[planted_dim[0]]) if len(planted_dim) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _read_labels(path: str, n_objects: int) -> list[str]:
    labels = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    if len(labels) < n_objects:
        raise ValueError(f"Labels file '{path}' has {len(labels)} labels but the triplets use object indices up to "
                         f"{n_objects - 1}; it needs one label per object, one per line, in index order.")
    return labels


def _dimensions_figure(W: np.ndarray, labels: Sequence[str], images: np.ndarray | None, result) -> plt.Figure:
    """The top objects of each kept dimension (images when there are any, otherwise labels), and the training curve."""
    from cortexplorer.report.figures import labelled_rows

    n_show = min(W.shape[1], 10)
    fig = plt.figure(figsize=(12, 1.0 + 0.9 * max(n_show, 3)), layout="constrained")
    grid = fig.add_gridspec(1, 3)
    ax = fig.add_subplot(grid[0, :2])
    ax.axis("off")
    if n_show == 0:
        ax.text(0.5, 0.5, "no dimension kept: lower triplets.odd_one_out.l1", ha="center")
    elif images is not None:
        rows = [(f"dim {d + 1}", images[np.argsort(-W[:, d], kind="stable")[:8]]) for d in range(n_show)]
        ax.imshow(np.asarray(labelled_rows(rows, scale=1, label_width=60)))
        ax.set_title("objects loading most on each kept dimension")
    else:
        text = "\n".join(f"dim {d + 1}: " + ", ".join(labels[i] for i in np.argsort(-W[:, d], kind="stable")[:6])
                         for d in range(n_show))
        ax.text(0, 1, text, va="top", family="monospace", fontsize=8)
    ax2 = fig.add_subplot(grid[0, 2])
    ax2.plot(np.arange(1, len(result.val_accuracy) + 1), result.val_accuracy, label="held-out accuracy")
    ax2.set(xlabel="epoch", ylabel="odd-one-out accuracy", title="training")
    ax3 = ax2.twinx()
    ax3.plot(np.arange(1, len(result.n_dims) + 1), result.n_dims, color="tab:orange", label="dimensions > threshold")
    ax3.set_ylabel("dimensions", color="tab:orange")
    ax2.legend(loc="lower right", fontsize=8)
    return fig
