"""Stage `triplets`: decorrelated triplets from a network's layers, choices, choice models and their figures.

Three steps, each a rule: :func:`search` (images + network → triplets.tsv, grid coverage), :func:`choices`
(human choices read and checked, or simulated observers) and :func:`fit` (the two-layer choice model per
subject and pooled, every layer's cross-validated predictivity, the noise ceiling). Similarity is
standardised by each layer's σ over the same seeded image selection in the search and in the fit, so the
weights are "per σ of similarity" in both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.models.cnn import Cnn, default_layers, layer_table, load_network, resolve_layer
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.triplets.choices import (
    analytic_ceiling,
    cross_validated_accuracy,
    fit_choice_model,
    read_choices,
    repeat_ceiling,
    simulate_observers,
)
from cortexplorer.triplets.search import (
    TripletGrid,
    decorrelated_triplets,
    grid_coverage,
    random_triplet_differences,
    similarity_matrix,
)

log = logging.getLogger(__name__)
TRIPLET_COLUMNS = ("root", "image1", "image2", "b_high", "b_low", "sign", "d_high", "d_low", "z_high", "z_low")


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


def search(*, images_h5: str, images_tsv: str, network_name: str, network_spec: Mapping[str, Any],
           demo_weights: str | None, low_layer: str, high_layer: str, max_images: int, grid: Mapping[str, Any],
           max_triplets: int, seed: int, device: str = "auto", batch_size: int = 64, max_activation_gb: float = 8.0,
           out_triplets: str, out_coverage: str, out_figure: str, out_provenance: str) -> pd.DataFrame:
    """Triplets whose high- and low-level similarity differences hit a grid independently (see ``search.py``)."""
    start = time.time()
    cnn = load_network(network_name, network_spec, demo_weights=demo_weights, device=device, seed=seed)
    low = resolve_layer(cnn, low_layer, "triplets.low_layer")
    high = resolve_layer(cnn, high_layer, "triplets.high_layer")
    if low == high:
        raise ValueError(f"triplets.low_layer ({low_layer}) and triplets.high_layer ({high_layer}) are the same layer "
                         f"{low!r}; pick two different layers.")
    tgrid = TripletGrid(**grid)
    images = select_images(read_image_set(images_h5, images_tsv), max_images, seed)
    if len(images) < 3 * min(max_triplets, tgrid.n_bins ** 2):  # before the forward pass
        decorrelated_triplets(np.zeros((len(images),) * 2), np.zeros((len(images),) * 2), tgrid, max_triplets,
                              make_rng(seed))
    log.info("triplet search on %d images of %s; low %s (%s), high %s (%s)", len(images), images_h5, low_layer, low,
             high_layer, high)
    sims = {layer: similarity_matrix(acts) for layer, acts in layer_activations(
        cnn, images.images, [low, high], batch_size=batch_size, limit_gb=max_activation_gb)}
    rng = make_rng(seed, "triplets", "search")
    found = decorrelated_triplets(sims[high], sims[low], tgrid, max_triplets, rng)
    ids = images.table["stim_id"].astype(str).to_numpy()
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
    nat_high, nat_low = random_triplet_differences(sims[high], sims[low], 5000, make_rng(seed, "triplets", "random"))
    r_found = float(np.corrcoef(table["d_low"], table["d_high"])[0, 1]) if len(table) > 2 else float("nan")
    r_natural = float(np.corrcoef(nat_low, nat_high)[0, 1])
    coverage = grid_coverage(found, tgrid.n_bins)
    covered = float((coverage["n_triplets"] > 0).mean())
    log.info("%d triplets; corr(d_low, d_high) = %.3f (random triplets: %.3f); grid coverage %.0f%%", len(table),
             r_found, r_natural, 100 * covered)
    write_tsv(table[[*TRIPLET_COLUMNS, "target_high", "target_low"]], out_triplets)
    write_tsv(coverage, out_coverage)
    _search_figure(table, coverage, nat_high, nat_low, found.attrs, tgrid.n_bins, low_layer, high_layer, out_figure)
    write_sidecar(out_provenance, stage="triplets/search", seed=seed,
                  settings={"low_layer": low_layer, "high_layer": high_layer, "max_images": max_images,
                            "grid": dict(grid), "max_triplets": max_triplets, "images": images_h5},
                  network=cnn.identity, layers={"low": low, "high": high}, n_images=len(images),
                  n_triplets=len(table), corr_low_high=r_found, corr_low_high_random=r_natural,
                  grid_coverage=covered, sd_high=found.attrs["sd_high"], sd_low=found.attrs["sd_low"],
                  seconds=round(time.time() - start, 1))
    return table


def _search_figure(table, coverage, nat_high, nat_low, sds, n_bins, low_name, high_name, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    grid = coverage.pivot(index="b_low", columns="b_high", values="n_triplets")
    im = axes[0].imshow(grid.to_numpy(), origin="lower", cmap="viridis",
                        extent=(0.5, n_bins + 0.5, 0.5, n_bins + 0.5))
    fig.colorbar(im, ax=axes[0], label="triplets")
    axes[0].set(xlabel=f"high-level difference bin ({high_name})", ylabel=f"|low-level difference| bin ({low_name})",
                title=f"grid coverage: {100 * (coverage['n_triplets'] > 0).mean():.0f}% of cells")
    axes[1].scatter(nat_high / sds["sd_high"], nat_low / sds["sd_low"], s=3, alpha=0.2, c="grey",
                    label=f"random triplets (r = {np.corrcoef(nat_low, nat_high)[0, 1]:.2f})")
    r = np.corrcoef(table["z_low"], table["z_high"])[0, 1] if len(table) > 2 else float("nan")
    axes[1].scatter(table["z_high"], table["z_low"], s=6, c=np.where(table["sign"] > 0, "tab:blue", "tab:red"),
                    label=f"searched (r = {r:.2f}); blue congruent, red conflict")
    axes[1].set(xlabel=f"Δ high-level similarity / σ ({high_name})", ylabel=f"Δ low-level similarity / σ ({low_name})",
                title="similarity differences (image2 − image1)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def choices(*, triplets_tsv: str, images_tsv: str, choices_path: str | None, observers: Mapping[str, Any],
            seed: int, out_choices: str, out_provenance: str) -> pd.DataFrame:
    """Human choices, checked against the image set, or simulated observers on the searched triplets."""
    if choices_path:
        ids = read_tsv(images_tsv, required=["stim_id"])["stim_id"].astype(str).to_numpy()
        table = read_choices(choices_path, ids)
        source = {"choices": str(choices_path)}
        log.info("read %d choices of %d subject(s) from %s", len(table), table["subject"].nunique(), choices_path)
    else:
        triplets = read_tsv(triplets_tsv, required=TRIPLET_COLUMNS)
        for col in ("root", "image1", "image2"):
            triplets[col] = triplets[col].astype(str)
        if triplets.empty:
            raise ValueError(f"'{triplets_tsv}' holds no triplets, so there is nothing to simulate choices on. Loosen "
                             "the search (triplets.tolerance, triplets.bin_size, triplets.max_images).")
        table = simulate_observers(triplets, n_observers=observers["n"], n_trials=observers["trials"],
                                   beta_high=observers["beta_high"], beta_low=observers["beta_low"],
                                   jitter=observers["jitter"], lapse=observers["lapse"],
                                   rng=make_rng(seed, "triplets", "observers"))
        source = {"observers": dict(observers)}
        log.info("simulated %d observers × %d trials (β_high %.2f, β_low %.2f, lapse %.2f)", observers["n"],
                 observers["trials"], observers["beta_high"], observers["beta_low"], observers["lapse"])
    write_tsv(table, out_choices)
    write_sidecar(out_provenance, stage="triplets/choices", seed=seed, settings=source, n_choices=len(table),
                  n_subjects=int(table["subject"].nunique()))
    return table


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


def fit(*, choices_tsv: str, images_h5: str, images_tsv: str, network_name: str, network_spec: Mapping[str, Any],
        demo_weights: str | None, low_layer: str, high_layer: str, predictivity_layers: Sequence[str],
        max_images: int, cv_folds: int, seed: int, device: str = "auto", batch_size: int = 64,
        max_activation_gb: float = 8.0, out_weights: str, out_predictivity: str, out_surface: str,
        out_layers_figure: str, out_provenance: str) -> pd.DataFrame:
    """The two-layer choice model (pooled and per subject), every layer's predictivity and the noise ceiling."""
    start = time.time()
    table = read_tsv(choices_tsv, required=["root", "image1", "image2", "choice", "subject"])
    for col in ("root", "image1", "image2", "choice", "subject"):
        table[col] = table[col].astype(str)
    cnn = load_network(network_name, network_spec, demo_weights=demo_weights, device=device, seed=seed)
    named = {"low": resolve_layer(cnn, low_layer, "triplets.low_layer"),
             "high": resolve_layer(cnn, high_layer, "triplets.high_layer")}
    layers = [resolve_layer(cnn, name, "triplets.predictivity_layers") for name in predictivity_layers] \
        or default_layers(cnn)
    all_layers = list(dict.fromkeys([named["low"], named["high"], *layers]))
    full = read_image_set(images_h5, images_tsv)
    chosen = select_images(full, max_images, seed)  # the search's selection: σ over the same images
    needed = set(table[["root", "image1", "image2"]].to_numpy().ravel())
    extra = np.flatnonzero(full.table["stim_id"].astype(str).isin(needed - set(chosen.table["stim_id"].astype(str))))
    if len(extra):  # human triplets may use images outside the selection: added after it (σ still over it)
        log.info("%d images of the choices are outside the %d selected; adding them", len(extra), len(chosen))
        chosen_plus = ImageSet(np.concatenate([chosen.images, full.images[extra]]),
                               pd.concat([chosen.table, full.table.iloc[extra]], ignore_index=True))
    else:
        chosen_plus = chosen
    z = _layer_z(cnn, chosen_plus, len(chosen), table, all_layers, batch_size=batch_size, limit_gb=max_activation_gb)
    y = (table["choice"] == table["image2"]).to_numpy().astype(float)
    triplet_id = table[["root", "image1", "image2"]].agg("|".join, axis=1).to_numpy()
    x2 = np.column_stack([z[named["high"]], z[named["low"]]])
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
    weights = pd.DataFrame(rows)
    rng_seed = int(make_rng(seed, "triplets", "cv").integers(2 ** 31))
    pred = [{"model": f"{high_layer} + {low_layer}", "layer": "both", "alias": "",
             "accuracy": cross_validated_accuracy(x2, y, triplet_id, folds=cv_folds, lapse=True, seed=rng_seed)}]
    aliases = {r["layer"]: r["alias"] for r in layer_table(cnn)}
    for layer in layers:
        acc = cross_validated_accuracy(z[layer].to_numpy(), y, triplet_id, folds=cv_folds, lapse=True, seed=rng_seed)
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
    write_tsv(weights, out_weights)
    write_tsv(predictivity, out_predictivity)
    pooled = fit_choice_model(x2, y, lapse=True)
    _surface_figure(x2, y, pooled, high_layer, low_layer, out_surface)
    _layers_figure(predictivity, ceilings, out_layers_figure)
    write_sidecar(out_provenance, stage="triplets/fit", seed=seed,
                  settings={"low_layer": low_layer, "high_layer": high_layer, "layers": layers, "cv_folds": cv_folds,
                            "max_images": max_images},
                  network=cnn.identity, n_trials=len(table), **ceilings,
                  accuracy_two_layer=pred[0]["accuracy"], seconds=round(time.time() - start, 1))
    return weights


def _surface_figure(x: np.ndarray, y: np.ndarray, model, high_name: str, low_name: str, path: str) -> None:
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _layers_figure(predictivity: pd.DataFrame, ceilings: Mapping[str, float], path: str) -> None:
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)



def odd_one_out(*, triplets_path: str | None, labels_path: str | None, images_h5: str | None,
                images_tsv: str | None, n_objects: int, n_random_dims: int, n_triplets: int, temperature: float,
                heldout_fraction: float, n_dims: int, l1: float, epochs: int, batch_size: int, learning_rate: float,
                prune_threshold: float, planted_scale: float, repeats: Sequence[int], seed: int, device: str = "auto",
                out_embedding: str, out_dimensions: str, out_figure: str, out_provenance: str) -> pd.DataFrame:
    """SPoSE on odd-one-out triplets: a THINGS-format file, or (no file) triplets simulated from a planted
    sparse embedding of ``n_objects`` stimuli (one dimension per category plus ``n_random_dims`` sparse ones).

    Held-out accuracy is compared with the noise ceiling: analytic E[max p] when the embedding is planted,
    otherwise the modal agreement on repeated triplets of the file (nan if it repeats none).
    """
    from cortexplorer.triplets import spose

    start = time.time()
    rng = make_rng(seed, "triplets", "odd_one_out")
    planted, images = None, None
    if triplets_path:
        data = spose.read_things_triplets(triplets_path)
        n_obj = int(data.max()) + 1
        labels = _read_labels(labels_path, n_obj) if labels_path else [str(i) for i in range(n_obj)]
        n_obj = max(n_obj, len(labels))
        source = {"triplets": str(triplets_path)}
    else:
        image_set = select_images(read_image_set(images_h5, images_tsv), n_objects, seed)
        if len(image_set) < n_objects:
            raise ValueError(f"triplets.odd_one_out.n_objects is {n_objects} but '{images_tsv}' has only "
                             f"{len(image_set)} images; lower n_objects.")
        cats, codes = np.unique(image_set.table["category"].astype(str), return_inverse=True)
        planted = spose.planted_embedding(n_objects, codes.astype(np.int64), len(cats), n_random_dims, rng,
                                          scale=planted_scale)
        data, _ = spose.simulate_odd_one_out(planted, n_triplets, rng, temperature=temperature,
                                             repeats=tuple(repeats) if repeats[0] > 0 else None)
        n_obj, images = n_objects, image_set.images
        labels = [f"{sid} ({cat})" for sid, cat in zip(image_set.table["stim_id"], image_set.table["category"],
                                                      strict=True)]
        planted_names = [f"category {c}" for c in cats] + [f"random {i + 1}" for i in range(n_random_dims)]
        source = {"simulated": {"objects": images_tsv, "n_triplets": n_triplets, "temperature": temperature,
                                "planted_scale": planted_scale, "n_random_dims": n_random_dims}}
    # repeated triplets (same three objects) only measure the ceiling; the rest is split into train and held out
    key = np.sort(data, axis=1)
    _, group, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    repeated = counts[group.ravel()] > 1
    single = np.flatnonzero(~repeated)
    held = rng.random(len(single)) < heldout_fraction
    train, heldout = data[single[~held]], data[single[held]]
    if len(heldout) == 0 or len(train) == 0:
        raise ValueError(f"{len(single)} odd-one-out triplets (not counting repeats) are too few to hold out "
                         f"{heldout_fraction:.0%}; give more triplets.")
    log.info("SPoSE on %d objects: %d training, %d held-out, %d repeated triplets", n_obj, len(train), len(heldout),
             int(repeated.sum()))
    result = spose.fit_spose(train, n_obj, n_dims=n_dims, l1=l1, epochs=epochs, batch_size=batch_size,
                             lr=learning_rate, seed=seed, device=device, validation=heldout)
    W, kept = spose.prune_dimensions(result.W, prune_threshold, return_index=True)
    accuracy = spose.odd_one_out_accuracy(result.W, heldout)
    # repeated triplets: modal agreement (THINGS / Brain-Score; biased up at few repeats) and leave-one-out
    # (each trial predicted by the mode of its triplet's other trials; biased slightly down)
    ceilings = {"repeat_ceiling_modal": float("nan"), "repeat_ceiling_leave_one_out": float("nan")}
    if repeated.any():
        ceilings["repeat_ceiling_modal"] = spose.repeat_ceiling(data[repeated])[0]
        ceilings["repeat_ceiling_leave_one_out"] = spose.repeat_ceiling(data[repeated], leave_one_out=True)[0]
    if planted is not None:
        ceiling = spose.analytic_ceiling(planted, heldout, temperature)
        ceiling_kind = "analytic E[max p] of the planted embedding on the held-out triplets"
    else:
        ceiling = ceilings["repeat_ceiling_modal"]
        ceiling_kind = "modal agreement on repeated triplets"
    rows = []
    matched = index = None
    if planted is not None and W.shape[1]:
        matched, index = spose.match_dimensions(W, planted, return_index=True)
    for d in range(W.shape[1]):
        top = np.argsort(-W[:, d], kind="stable")[:8]
        row = {"dimension": d + 1, "fitted_column": int(kept[d]), "total_weight": float(W[:, d].sum()),
               "max_weight": float(W[:, d].max()), "n_objects_above_threshold": int((W[:, d] > prune_threshold).sum()),
               "top_objects": "; ".join(labels[i] for i in top)}
        if matched is not None:
            planted_dim = np.flatnonzero(index == d)
            row["planted"] = planted_names[planted_dim[0]] if len(planted_dim) else ""
            row["planted_r"] = float(matched[planted_dim[0]]) if len(planted_dim) else float("nan")
        rows.append(row)
    dims = pd.DataFrame(rows)
    log.info("SPoSE: %d dimensions kept; held-out accuracy %.4f, ceiling %.4f (%s)%s", W.shape[1], accuracy, ceiling,
             ceiling_kind, "" if matched is None else f"; planted dimensions matched with r = "
             f"{', '.join(f'{r:.3f}' for r in matched)}")
    embedding = pd.DataFrame(W, columns=[f"dim{d + 1}" for d in range(W.shape[1])])
    embedding.insert(0, "object", labels[:n_obj] if len(labels) >= n_obj else list(range(n_obj)))
    write_tsv(embedding, out_embedding)
    write_tsv(dims, out_dimensions)
    _dimensions_figure(W, labels, images, result, out_figure)
    extra = {} if matched is None else {"planted_r": [float(r) for r in matched], "n_dims_planted": planted.shape[1]}
    write_sidecar(out_provenance, stage="triplets/odd_one_out", seed=seed,
                  settings={**source, "n_dims": n_dims, "l1": l1, "epochs": epochs, "batch_size": batch_size,
                            "learning_rate": learning_rate, "prune_threshold": prune_threshold,
                            "heldout_fraction": heldout_fraction},
                  n_objects=n_obj, n_train=len(train), n_heldout=len(heldout), n_repeated=int(repeated.sum()),
                  n_dims_kept=int(W.shape[1]), heldout_accuracy=accuracy, ceiling=ceiling, ceiling_kind=ceiling_kind,
                  seconds=round(time.time() - start, 1), **ceilings, **extra)
    return dims


def _read_labels(path: str, n_objects: int) -> list[str]:
    labels = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    if len(labels) < n_objects:
        raise ValueError(f"Labels file '{path}' has {len(labels)} labels but the triplets use object indices up to "
                         f"{n_objects - 1}; it needs one label per object, one per line, in index order.")
    return labels


def _dimensions_figure(W: np.ndarray, labels: Sequence[str], images: np.ndarray | None, result, path: str) -> None:
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
