"""The visual_search stage: stimuli → search (eccNET or IVSN) → RT curves and asymmetry indices vs humans.

Three entry points ``(inputs, outputs, settings)``, one per rule, each loading, computing, writing:
:func:`generate_stimuli`, :func:`search_displays` and :func:`summarise_search`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm import tqdm

from cortexplorer.io.figures import write_figure
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.visual_search import metrics
from cortexplorer.visual_search.baselines import BASELINES
from cortexplorer.visual_search.search import SearchResult, search_many, search_steps
from cortexplorer.visual_search.settings import SearchSettings, StimuliSettings, SummarySettings
from cortexplorer.visual_search.stimuli import (
    EXPERIMENTS,
    StimulusSet,
    experiment_spec,
    generate_experiment,
    read_stimulus_set,
)

if TYPE_CHECKING:
    from cortexplorer.models.cnn import Cnn

log = logging.getLogger(__name__)

NETWORK_MODELS = ("eccnet", "ivsn")  # cortexplorer.visual_search.eccnet (torch), imported only when one runs
MODELS = (*NETWORK_MODELS, *BASELINES)  # the baselines use no network


def search_model(name: str):
    """The constructor of visual-search model ``name``; the network models' module (and torch) only for them."""
    if name in BASELINES:
        return BASELINES[name]
    from cortexplorer.visual_search import eccnet

    return {"eccnet": eccnet.eccnet, "ivsn": eccnet.ivsn}[name]
FIXATION_COLUMNS = ("experiment", "task", "trial", "set_size", "n_fix", "found", "fixations")
N_EXAMPLES = 4  # example scanpaths drawn per task
N_BOOT = 1000  # trial bootstrap resamples for the asymmetry indices' 95% CIs


def generate_stimuli(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: StimuliSettings) -> None:
    """Write one experiment's displays into ``outputs["stimuli"]`` (see :func:`.stimuli.generate_experiment`) and
    a ``provenance.json`` sidecar beside them."""
    out_dir = outputs["stimuli"]
    table = generate_experiment(settings.experiment, out_dir, scale=settings.scale,
                                trials_per_set_size=settings.trials_per_set_size, seed=settings.seed)
    write_sidecar(Path(out_dir) / "provenance.json", stage="visual_search_stimuli", seed=settings.seed,
                  settings={"experiment": settings.experiment, "scale": settings.scale,
                            "trials_per_set_size": settings.trials_per_set_size},
                  n_trials=len(table))


def _format_fixations(result: SearchResult) -> str:
    """``row,col;row,col;…`` in display pixels, the start first."""
    return ";".join(f"{y},{x}" for y, x in result.fixations)


def parse_fixations(text: str) -> np.ndarray:
    """The ``fixations`` column back to an n × 2 (row, col) array."""
    return np.array([[int(v) for v in p.split(",")] for p in str(text).split(";") if p], int).reshape(-1, 2)


# --- search -----------------------------------------------------------------------------------------


@dataclass
class SearchRun:
    """One model's fixations on every trial of one experiment, and example scanpaths to draw."""

    table: pd.DataFrame
    examples: list  # (task, trial, display, SearchResult) at the largest set size
    seconds: float


def search_displays(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: SearchSettings) -> None:
    """Rule ``visual_search``: load the network (``inputs["demo_cnn"]``: the demo's weights; none for the
    baselines), then :func:`run_search`."""
    if settings.model in BASELINES:
        run_search(inputs["stimuli"], None, settings, outputs)
        return
    from cortexplorer.models.cnn import load_network

    network = load_network(settings.network, settings.network_spec, demo_weights=inputs.get("demo_cnn"),
                           device=settings.device, seed=settings.seed)
    run_search(inputs["stimuli"], network, settings, outputs)


def run_search(stim_dir: str | os.PathLike, network: Cnn | None, settings: SearchSettings,
               outputs: Mapping[str, Any]) -> pd.DataFrame:
    """Run ``settings.model`` ("eccnet" or "ivsn" with ``network``'s conv stack; "chance" or "pixelmatch" without
    one, ``network`` None) on every trial of a stimulus
    folder; write ``outputs["fixations"]``, ``outputs["scanpaths"]`` and (when given) ``outputs["provenance"]``.

    One row per trial (experiment, task, trial, set_size, n_fix, found, fixations as ``row,col;…``) and a
    figure of :data:`N_EXAMPLES` example scanpaths per task drawn on their displays.
    """
    if settings.model not in MODELS:
        raise ValueError(f"Unknown visual-search model {settings.model!r}; use one of {list(MODELS)}.")
    stim = read_stimulus_set(stim_dir)
    run = search_trials(stim, network, settings)
    write_tsv(run.table, outputs["fixations"])
    write_figure(_scanpath_figure(run.examples, settings.model), outputs["scanpaths"], dpi=90)
    if outputs.get("provenance"):
        info = stim.info
        write_sidecar(outputs["provenance"], stage="visual_search", seed=settings.seed,
                      settings={"model": settings.model, "stimuli": str(stim_dir),
                                "recognition_px": settings.recognition_px, "experiment": info["experiment"],
                                "deg2px": info["deg2px"], "batch_size": settings.batch_size},
                      network=None if network is None else network.identity, seconds=round(run.seconds, 1))
    return run.table


def search_trials(stim: StimulusSet, network: Cnn | None, settings: SearchSettings) -> SearchRun:
    """Every trial searched, in lockstep: ``settings.batch_size`` retina windows per network call (the results
    do not depend on it beyond floating-point summation order)."""
    info, model = stim.info, settings.model
    extra = {"cells": stim.cells} if model in BASELINES else {}  # chance picks among the cells showing an item
    searcher = search_model(model)(network, deg2px=info["deg2px"], background=info["background"], dog=info["dog"], **extra)
    start = time.time()
    rows, examples = [], []
    largest = int(stim.trials["set_size"].max())
    todo = list(stim.trials.iterrows())
    chunk = 8 * settings.batch_size  # trials in flight at once (bounded memory); progress per chunk
    with tqdm(total=len(todo), desc=f"{model} {info['experiment']}", mininterval=10) as progress:
        for first in range(0, len(todo), chunk):
            part = todo[first:first + chunk]
            displays, results = _search_chunk(stim, part, searcher, settings)
            for (_, row), display, result in zip(part, displays, results, strict=True):
                rows.append({"experiment": info["experiment"], "task": row["task"], "trial": int(row["trial"]),
                             "set_size": int(row["set_size"]), "n_fix": result.n_fix, "found": result.found,
                             "fixations": _format_fixations(result)})
                if int(row["set_size"]) == largest and sum(e[0] == row["task"] for e in examples) < N_EXAMPLES:
                    examples.append((row["task"], int(row["trial"]), display, result))
            progress.update(len(part))
    table = pd.DataFrame(rows, columns=list(FIXATION_COLUMNS))
    seconds = time.time() - start
    log.info("%s %s: %d trials, %d fixations, %.0f%% found, %.1f s", model, info["experiment"], len(table),
             int(table["n_fix"].sum()), 100 * table["found"].mean(), seconds)
    return SearchRun(table, examples, seconds)


def _search_chunk(stim: StimulusSet, part: list, searcher, settings: SearchSettings
                  ) -> tuple[list[np.ndarray], list[SearchResult]]:
    """The displays of ``part`` (rows of the trial table) and their searches, run as one batch."""
    info = stim.info
    displays, targets, steps = [], [], []
    for _, row in part:
        display, target = stim.load(row)
        displays.append(display)
        targets.append(target)
        steps.append(search_steps(
            display, stim.cells, int(row["target_cell"]), background=info["background"],
            set_size=int(row["set_size"]), max_fixations=int(info["max_fixations"]),
            recognition_px=settings.recognition_px,
            rng=make_rng(settings.seed, "visual_search", settings.model, info["experiment"], row["task"],
                         int(row["trial"]))))
    return displays, search_many(steps, targets, searcher, batch_size=settings.batch_size)


def _scanpath_figure(examples: list, model: str) -> plt.Figure:
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
    return fig



def _check_fixation_table(table: pd.DataFrame, path) -> None:
    for column in ("experiment", "task", "set_size", "n_fix"):
        if column not in table.columns:
            raise ValueError(f"Fixation table {path} lacks column {column!r}; write it with run_search.")
    for experiment in table["experiment"].unique():
        experiment_spec(str(experiment))


# --- summary ----------------------------------------------------------------------------------------


@dataclass
class SearchSummary:
    """Per model × task × set size the RT curves; per model × experiment the slopes and asymmetry indices."""

    rt: pd.DataFrame
    asymmetry: pd.DataFrame


def summarise_search(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: SummarySettings) -> None:
    """Rule ``visual_search_summary``: RT curves and asymmetry indices of every model vs the packaged human
    curves (``human_rt.tsv``); ``inputs["fixations"]`` in model-major order, then experiment."""
    paths = iter(inputs["fixations"])
    files = {m: {e: next(paths) for e in settings.experiments} for m in settings.models}
    human = metrics.load_human_rt(None)
    summary = summarise(read_fixation_tables(files), human)
    write_tsv(summary.rt, outputs["rt"])
    write_tsv(summary.asymmetry, outputs["asymmetry"])
    write_figure(_curves_figure(summary.rt, human, summary.asymmetry), outputs["curves"], dpi=90)
    write_sidecar(outputs["provenance"], stage="visual_search_summary", seed=None,
                  settings={"models": list(files), "human_table": "packaged"})


def read_fixation_tables(files: Mapping[str, Mapping[str, str | os.PathLike]]
                         ) -> dict[str, dict[str, pd.DataFrame]]:
    """model → experiment → fixation table (written by :func:`run_search`), each checked to hold that experiment."""
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    for model, per_experiment in files.items():
        tables[model] = {}
        for experiment, path in per_experiment.items():
            t = read_tsv(path)
            _check_fixation_table(t, path)
            if set(t["experiment"]) != {experiment}:
                raise ValueError(f"Fixation table {path} holds experiment(s) {sorted(set(t['experiment']))}, but it "
                                 f"was given as {experiment!r}; check the fixation_tsvs mapping.")
            tables[model][experiment] = t
    return tables


def summarise(tables: Mapping[str, Mapping[str, pd.DataFrame]], human: pd.DataFrame) -> SearchSummary:
    """RT curves and asymmetry indices of every model vs humans.

    ``tables``: model → experiment → fixation table; ``human``: the human RT curves
    (:func:`.metrics.load_human_rt`). Per model × task × set size the mean n_fix, model RT and human RT;
    per model × experiment the hard/easy slopes (model, human), AI and ANOVA p, and per model a final
    ``mean`` row (mean AI, slope Pearson r over the tasks).
    """
    human_slopes = metrics.task_slopes(human)
    rt_rows, asym = [], []
    for model, per_experiment in tables.items():
        trials = pd.concat(list(per_experiment.values()), ignore_index=True)
        trials["rt_ms"] = metrics.fixations_to_rt(trials["n_fix"])
        grouped = _rt_curves(trials, human)
        grouped.insert(0, "model", model)
        rt_rows.append(grouped)
        table = _asymmetry(trials, grouped, human_slopes, list(per_experiment))
        table.insert(0, "model", model)
        asym.append(table)
        log.info("%s: mean asymmetry index %.3f (humans %.3f), slope r %.2f", model, table["ai"].iloc[-1],
                 table["human_ai"].iloc[-1], table["slope_r"].iloc[-1])
    return SearchSummary(pd.concat(rt_rows, ignore_index=True), with_paper_values(pd.concat(asym, ignore_index=True)))


def _rt_curves(trials: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Per experiment × task × set size: trials, mean and sd of n_fix, RT and its SEM, and the human RT."""
    grouped = trials.groupby(["experiment", "task", "set_size"], as_index=False).agg(
        n_trials=("n_fix", "size"), mean_n_fix=("n_fix", "mean"), sd_n_fix=("n_fix", "std"),
        found=("found", "mean") if "found" in trials else ("n_fix", "size"))
    grouped["rt_ms"] = metrics.fixations_to_rt(grouped["mean_n_fix"])
    grouped["rt_sem_ms"] = metrics.RT_PER_FIXATION_MS * grouped["sd_n_fix"] / np.sqrt(grouped["n_trials"])
    return grouped.merge(human[["task", "set_size", "rt_ms"]].rename(columns={"rt_ms": "human_rt_ms"}),
                         on=["task", "set_size"], how="left")


def _asymmetry(trials: pd.DataFrame, grouped: pd.DataFrame, human_slopes: Mapping[str, float],
               experiments: list[str]) -> pd.DataFrame:
    """Slopes, asymmetry index and ANOVA p per experiment, then a ``mean`` row with the slope correlation."""
    model_slopes = metrics.task_slopes(grouped.rename(columns={"rt_ms": "rt"}), rt="rt")
    table = metrics.asymmetry_table(model_slopes, human_slopes, {e: EXPERIMENTS[e].tasks for e in experiments})
    table["anova_p"] = [metrics.task_anova_p(g["set_size"], g["task"], g["rt_ms"])
                        for e in table["experiment"] for g in [trials[trials["experiment"] == e]]]
    r, p = metrics.slope_correlation(model_slopes, human_slopes)
    table = pd.concat([table, pd.DataFrame([{"experiment": "mean", "ai": table["ai"].mean(),
                                             "human_ai": table["human_ai"].mean(), "slope_r": r,
                                             "slope_r_p": p}])], ignore_index=True)
    ci = metrics.bootstrap_ai(trials, human_slopes, {e: EXPERIMENTS[e].tasks for e in experiments},
                              n_boot=N_BOOT, seed=0)
    table["ai_ci_low"] = [ci[e][0] for e in table["experiment"]]
    table["ai_ci_high"] = [ci[e][1] for e in table["experiment"]]
    table["n_trials"] = [int((trials["experiment"] == e).sum()) if e != "mean" else len(trials)
                         for e in table["experiment"]]
    return table


def with_paper_values(asymmetry: pd.DataFrame) -> pd.DataFrame:
    """``asymmetry`` (with a ``model`` column) plus the paper's AI of the same model and experiment
    (``paper_ai``; n/a for a model the paper did not run) and the paper's human AI (``paper_human_ai``)."""
    paper = metrics.load_paper_asymmetry()
    ai = paper.set_index(["model", "experiment"])["ai"]
    human = paper[paper["model"] == "humans"].set_index("experiment")["ai"]
    out = asymmetry.copy()
    out["paper_ai"] = [ai.get((m, e), float("nan")) for m, e in zip(out["model"], out["experiment"], strict=True)]
    out["paper_human_ai"] = [human.get(e, float("nan")) for e in out["experiment"]]
    return out


def _curves_figure(rt: pd.DataFrame, human: pd.DataFrame, asym: pd.DataFrame) -> plt.Figure:
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
    return fig
