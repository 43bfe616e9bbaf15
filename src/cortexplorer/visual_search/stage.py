"""The visual_search stage: stimuli → search (eccNET or IVSN) → RT curves and asymmetry indices vs humans."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from cortexplorer.io.atomic import atomic_path
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.models.cnn import Cnn
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.visual_search import metrics
from cortexplorer.visual_search.eccnet import SearchResult, eccnet, ivsn, search_many, search_steps
from cortexplorer.visual_search.stimuli import EXPERIMENTS, experiment_spec, generate_experiment, read_stimulus_set

log = logging.getLogger(__name__)

MODELS = {"eccnet": eccnet, "ivsn": ivsn}
FIXATION_COLUMNS = ("experiment", "task", "trial", "set_size", "n_fix", "found", "fixations")


def generate_stimuli(experiment: str, out_dir: str | os.PathLike, *, scale: float = 1.0,
                     trials_per_set_size: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Write one experiment's displays into ``out_dir`` (see :func:`.stimuli.generate_experiment`) and a
    ``provenance.json`` sidecar beside them."""
    table = generate_experiment(experiment, out_dir, scale=scale, trials_per_set_size=trials_per_set_size, seed=seed)
    write_sidecar(Path(out_dir) / "provenance.json", stage="visual_search_stimuli", seed=seed,
                  settings={"experiment": experiment, "scale": scale, "trials_per_set_size": trials_per_set_size},
                  n_trials=len(table))
    return table


def _format_fixations(result: SearchResult) -> str:
    """``row,col;row,col;…`` in display pixels, the start first."""
    return ";".join(f"{y},{x}" for y, x in result.fixations)


def parse_fixations(text: str) -> np.ndarray:
    """The ``fixations`` column back to an n × 2 (row, col) array."""
    return np.array([[int(v) for v in p.split(",")] for p in str(text).split(";") if p], int).reshape(-1, 2)


def run_search(stim_dir: str | os.PathLike, network: Cnn, model: str, out_fixations_tsv: str | os.PathLike,
               out_scanpaths_png: str | os.PathLike, *, seed: int = 0, recognition_px: int = 1,
               n_examples: int = 4, batch_size: int = 8, out_provenance: str | os.PathLike | None = None
               ) -> pd.DataFrame:
    """Run ``model`` ("eccnet" or "ivsn") with ``network``'s conv stack on every trial of a stimulus folder.

    Writes one row per trial (experiment, task, trial, set_size, n_fix, found, fixations as ``row,col;…``)
    and a figure of ``n_examples`` example scanpaths per task drawn on their displays. Trials are searched in
    lockstep, ``batch_size`` retina windows per network call (the results do not depend on it beyond
    floating-point summation order).
    """
    if model not in MODELS:
        raise ValueError(f"Unknown visual-search model {model!r}; use one of {list(MODELS)}.")
    stim = read_stimulus_set(stim_dir)
    info = stim.info
    searcher = MODELS[model](network, deg2px=info["deg2px"], background=info["background"], dog=info["dog"])
    start = time.time()
    rows, examples = [], []
    largest = int(stim.trials["set_size"].max())
    todo = list(stim.trials.iterrows())
    chunk = 8 * batch_size  # trials in flight at once (bounded memory); progress per chunk
    with tqdm(total=len(todo), desc=f"{model} {info['experiment']}", mininterval=10) as progress:
        for first in range(0, len(todo), chunk):
            part = todo[first:first + chunk]
            displays, targets, steps = [], [], []
            for _, row in part:
                display, target = stim.load(row)
                displays.append(display)
                targets.append(target)
                steps.append(search_steps(
                    display, stim.cells, int(row["target_cell"]), background=info["background"],
                    set_size=int(row["set_size"]), max_fixations=int(info["max_fixations"]),
                    recognition_px=recognition_px,
                    rng=make_rng(seed, "visual_search", model, info["experiment"], row["task"], int(row["trial"]))))
            results = search_many(steps, targets, searcher, batch_size=batch_size)
            for (_, row), display, result in zip(part, displays, results, strict=True):
                rows.append({"experiment": info["experiment"], "task": row["task"], "trial": int(row["trial"]),
                             "set_size": int(row["set_size"]), "n_fix": result.n_fix, "found": result.found,
                             "fixations": _format_fixations(result)})
                if int(row["set_size"]) == largest and sum(e[0] == row["task"] for e in examples) < n_examples:
                    examples.append((row["task"], int(row["trial"]), display, result))
            progress.update(len(part))
    table = pd.DataFrame(rows, columns=list(FIXATION_COLUMNS))
    seconds = time.time() - start
    log.info("%s %s: %d trials, %d fixations, %.0f%% found, %.1f s", model, info["experiment"], len(table),
             int(table["n_fix"].sum()), 100 * table["found"].mean(), seconds)
    write_tsv(table, out_fixations_tsv)
    _scanpath_figure(examples, model, out_scanpaths_png)
    if out_provenance:
        write_sidecar(out_provenance, stage="visual_search", seed=seed,
                      settings={"model": model, "stimuli": str(stim_dir), "recognition_px": recognition_px,
                                "experiment": info["experiment"], "deg2px": info["deg2px"],
                                "batch_size": batch_size},
                      network=network.identity, seconds=round(seconds, 1))
    return table


def _scanpath_figure(examples: list, model: str, path: str | os.PathLike) -> None:
    n = max(1, len(examples))
    cols = min(4, n)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3 * cols, 3 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (task, trial, display, result) in zip(axes.ravel(), examples, strict=False):
        ax.imshow(display)
        fix = np.asarray(result.fixations)
        ax.plot(fix[:, 1], fix[:, 0], "-", color="tab:red", lw=1)
        ax.scatter(fix[:, 1], fix[:, 0], c=np.arange(len(fix)), cmap="autumn", s=18, zorder=3)
        ax.set_title(f"{task} #{trial}: {result.n_fix} fix{'' if result.found else ' (not found)'}", fontsize=8)
    fig.suptitle(f"{model}: example scanpaths (start = display centre)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def _check_fixation_table(table: pd.DataFrame, path) -> None:
    for column in ("experiment", "task", "set_size", "n_fix"):
        if column not in table.columns:
            raise ValueError(f"Fixation table {path} lacks column {column!r}; write it with run_search.")
    for experiment in table["experiment"].unique():
        experiment_spec(str(experiment))


def summarise(fixation_tsvs: Mapping[str, Mapping[str, str | os.PathLike]], human_table: str | os.PathLike | None,
              out_rt_tsv: str | os.PathLike, out_asymmetry_tsv: str | os.PathLike,
              out_curves_png: str | os.PathLike, *, out_provenance: str | os.PathLike | None = None
              ) -> pd.DataFrame:
    """RT curves and asymmetry indices of every model vs humans.

    ``fixation_tsvs``: model → experiment → fixation table (from :func:`run_search`). ``human_table``: the
    human RT curves (None = the packaged ``human_rt.tsv``). Writes per model × task × set size the mean n_fix,
    model RT and human RT; per model × experiment the hard/easy slopes (model, human), AI and ANOVA p, and per
    model a final ``mean`` row (mean AI, slope Pearson r over the tasks); and a figure of the RT curves.
    Returns the asymmetry table.
    """
    human = metrics.load_human_rt(human_table)
    human_slopes = metrics.task_slopes(human)
    rt_rows, asym = [], []
    for model, per_experiment in fixation_tsvs.items():
        trials = []
        for experiment, path in per_experiment.items():
            t = read_tsv(path)
            _check_fixation_table(t, path)
            if set(t["experiment"]) != {experiment}:
                raise ValueError(f"Fixation table {path} holds experiment(s) {sorted(set(t['experiment']))}, but it "
                                 f"was given as {experiment!r}; check the fixation_tsvs mapping.")
            trials.append(t)
        trials = pd.concat(trials, ignore_index=True)
        trials["rt_ms"] = metrics.fixations_to_rt(trials["n_fix"])
        grouped = trials.groupby(["experiment", "task", "set_size"], as_index=False).agg(
            n_trials=("n_fix", "size"), mean_n_fix=("n_fix", "mean"), sd_n_fix=("n_fix", "std"),
            found=("found", "mean") if "found" in trials else ("n_fix", "size"))
        grouped["rt_ms"] = metrics.fixations_to_rt(grouped["mean_n_fix"])
        grouped["rt_sem_ms"] = metrics.RT_PER_FIXATION_MS * grouped["sd_n_fix"] / np.sqrt(grouped["n_trials"])
        grouped = grouped.merge(human[["task", "set_size", "rt_ms"]].rename(columns={"rt_ms": "human_rt_ms"}),
                                on=["task", "set_size"], how="left")
        grouped.insert(0, "model", model)
        rt_rows.append(grouped)
        model_slopes = metrics.task_slopes(grouped.rename(columns={"rt_ms": "rt"}), rt="rt")
        experiments = {e: EXPERIMENTS[e].tasks for e in per_experiment}
        table = metrics.asymmetry_table(model_slopes, human_slopes, experiments)
        table["anova_p"] = [metrics.task_anova_p(g["set_size"], g["task"], g["rt_ms"])
                            for e in table["experiment"] for g in [trials[trials["experiment"] == e]]]
        r, p = metrics.slope_correlation(model_slopes, human_slopes)
        table = pd.concat([table, pd.DataFrame([{"experiment": "mean", "ai": table["ai"].mean(),
                                                 "human_ai": table["human_ai"].mean(), "slope_r": r,
                                                 "slope_r_p": p}])], ignore_index=True)
        table.insert(0, "model", model)
        asym.append(table)
        log.info("%s: mean asymmetry index %.3f (humans %.3f), slope r %.2f", model, table["ai"].iloc[-1],
                 table["human_ai"].iloc[-1], r)
    rt_table = pd.concat(rt_rows, ignore_index=True)
    asym_table = pd.concat(asym, ignore_index=True)
    write_tsv(rt_table, out_rt_tsv)
    write_tsv(asym_table, out_asymmetry_tsv)
    _curves_figure(rt_table, human, asym_table, out_curves_png)
    if out_provenance:
        write_sidecar(out_provenance, stage="visual_search_summary", seed=None,
                      settings={"models": list(fixation_tsvs), "human_table": str(human_table or "packaged")})
    return asym_table


def _curves_figure(rt: pd.DataFrame, human: pd.DataFrame, asym: pd.DataFrame, path) -> None:
    experiments = [e for e in EXPERIMENTS if e in set(rt["experiment"])]
    cols = min(3, len(experiments))
    rows = (len(experiments) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(experiments):]:
        ax.axis("off")
    styles = {m: s for m, s in zip(rt["model"].unique(), ("-o", "-s", "-^", "-v"), strict=False)}
    for ax, experiment in zip(axes.ravel(), experiments, strict=False):
        for ti, task in enumerate(EXPERIMENTS[experiment].tasks):
            colour = f"C{ti}"
            h = human[human["task"] == task]
            ax.plot(h["set_size"], h["rt_ms"], "--", color=colour, lw=2, alpha=0.6, label=f"{task} human")
            for model, style in styles.items():
                m = rt[(rt["model"] == model) & (rt["task"] == task)]
                ax.errorbar(m["set_size"], m["rt_ms"], yerr=m["rt_sem_ms"], fmt=style, color=colour, ms=4,
                            capsize=2, lw=1, label=f"{task} {model}")
        ais = ", ".join(f"{r.model} {r.ai:+.2f}" for r in asym[asym["experiment"] == experiment].itertuples())
        human_ai = asym.loc[asym["experiment"] == experiment, "human_ai"].iloc[0]
        ax.set_title(f"{experiment}\nAI: human {human_ai:+.2f}, {ais}", fontsize=8)
        ax.set_xlabel("set size")
        ax.set_ylabel("RT (ms)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
