"""Search metrics: fixations → RT, RT-vs-set-size slopes, asymmetry index, ANOVA, scanpath similarity.

Definitions from kreimanlab/VisualSearchAsymmetry ``vs_exp/rt_plot.py``, ``eval_asym_metric.py`` and
``generateResults.py`` (§2.9 of the reference) and OAT's ``nw_matching`` (sequence score).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd
from scipy import stats

from cortexplorer.io.tables import read_tsv

RT_PER_FIXATION_MS = 252.359
RT_INTERCEPT_MS = 376.271


def fixations_to_rt(n_fix):
    """eccNET's linear fixation → reaction-time map (ms), fitted by the authors to human eye-movement data."""
    return RT_PER_FIXATION_MS * np.asarray(n_fix, dtype=float) + RT_INTERCEPT_MS


def rt_slope(set_sizes: Sequence[float], rt_ms: Sequence[float]) -> float:
    """RT-vs-set-size slope (ms/item), ``scipy.stats.linregress`` as in the original."""
    return float(stats.linregress(np.asarray(set_sizes, float), np.asarray(rt_ms, float)).slope)


def asymmetry_index(slope_hard, slope_easy):
    """``(s_H − s_L)/(s_H + s_L)`` with negative slopes clipped to 0; 0 if both are 0. +1 = full human polarity.
    Floats give a float; arrays (bootstrap resamples) an array."""
    s_h, s_l = np.maximum(slope_hard, 0.0), np.maximum(slope_easy, 0.0)
    total = s_h + s_l
    ai = np.where(total > 0, (s_h - s_l) / np.where(total > 0, total, 1.0), 0.0)
    return float(ai) if ai.ndim == 0 else ai


def hard_easy(human_slopes: Mapping[str, float], tasks: Sequence[str]) -> tuple[str, str]:
    """(hard, easy) task of an experiment's pair: the hard one has the larger **human** slope."""
    a, b = tasks
    return (a, b) if human_slopes[a] >= human_slopes[b] else (b, a)


def load_human_rt(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The human RT curves (columns experiment, task, set_size, rt_ms, source); the packaged table by default."""
    if path is None:
        path = resources.files("cortexplorer.visual_search") / "human_rt.tsv"
    return read_tsv(path, required=("experiment", "task", "set_size", "rt_ms"))


def load_paper_asymmetry(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's asymmetry indices (columns model, paper_name, experiment, ai, slope_r, source): humans,
    eccNET and its variants, IVSN, pixelMatch and chance, per experiment and their mean; model names as
    ``visual_search.models`` spells them. The packaged table by default."""
    if path is None:
        path = resources.files("cortexplorer.visual_search") / "paper_asymmetry.tsv"
    return read_tsv(path, required=("model", "paper_name", "experiment", "ai", "source"))


def task_slopes(table: pd.DataFrame, rt: str = "rt_ms") -> dict[str, float]:
    """Slope per task of a table with columns task, set_size and ``rt`` (trial-level or means: the same fit
    when every set size has the same number of rows)."""
    means = table.groupby(["task", "set_size"], as_index=False)[rt].mean()
    return {task: rt_slope(g["set_size"], g[rt]) for task, g in means.groupby("task")}


def asymmetry_table(model_slopes: Mapping[str, float], human_slopes: Mapping[str, float],
                    experiments: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per experiment: hard/easy tasks (human polarity), model and human slopes, AIs."""
    rows = []
    for experiment, tasks in experiments.items():
        hard, easy = hard_easy(human_slopes, tasks)
        rows.append({"experiment": experiment, "hard_task": hard, "easy_task": easy,
                     "slope_hard": model_slopes[hard], "slope_easy": model_slopes[easy],
                     "human_slope_hard": human_slopes[hard], "human_slope_easy": human_slopes[easy],
                     "ai": asymmetry_index(model_slopes[hard], model_slopes[easy]),
                     "human_ai": asymmetry_index(human_slopes[hard], human_slopes[easy])})
    return pd.DataFrame(rows)


def bootstrap_ai(trials: pd.DataFrame, human_slopes: Mapping[str, float], experiments: Mapping[str, Sequence[str]],
                 *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of each experiment's asymmetry index and of their mean, resampling trials with
    replacement within each experiment × task × set size (``trials``: experiment, task, set_size, n_fix).
    Vectorised: each resample's mean RT per set size, the least-squares slope per task (as :func:`rt_slope`),
    then :func:`asymmetry_index` (negative slopes clipped to 0)."""
    rng = np.random.default_rng(seed)
    boot_ai = {}
    for experiment, tasks in experiments.items():
        slopes = {}
        for task in tasks:
            rows = trials[(trials["experiment"] == experiment) & (trials["task"] == task)]
            sizes, means = [], []
            for size, group in rows.groupby("set_size"):
                rt = fixations_to_rt(group["n_fix"].to_numpy())
                means.append(rt[rng.integers(0, len(rt), (n_boot, len(rt)))].mean(axis=1))
                sizes.append(float(size))
            x = np.asarray(sizes) - np.mean(sizes)
            y = np.stack(means, axis=1)  # n_boot × set sizes
            slopes[task] = (y - y.mean(axis=1, keepdims=True)) @ x / (x @ x)  # rt_slope's least squares, per row
        hard, easy = hard_easy(human_slopes, tasks)
        boot_ai[experiment] = asymmetry_index(slopes[hard], slopes[easy])
    boot_ai["mean"] = np.mean(np.stack(list(boot_ai.values())), axis=0)
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    return {k: (float(np.percentile(v, q[0])), float(np.percentile(v, q[1]))) for k, v in boot_ai.items()}


def slope_correlation(model_slopes: Mapping[str, float], human_slopes: Mapping[str, float]) -> tuple[float, float]:
    """Pearson r (and p) between model and human slopes over the tasks both have."""
    tasks = sorted(set(model_slopes) & set(human_slopes))
    m, h = np.array([model_slopes[t] for t in tasks]), np.array([human_slopes[t] for t in tasks])
    if len(tasks) < 3 or np.ptp(m) == 0 or np.ptp(h) == 0:
        return float("nan"), float("nan")
    res = stats.pearsonr(m, h)
    return float(res.statistic), float(res.pvalue)


def _rss(design: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    return float(resid @ resid), int(np.linalg.matrix_rank(design))


def task_anova_p(set_size: Sequence[float], task: Sequence[str], rt_ms: Sequence[float]) -> float:
    """p of the F-test ``RT ~ SetSize`` vs ``RT ~ SetSize * Task`` (statsmodels ``anova_lm`` of the two nested OLS
    fits): do the tasks differ in slope or intercept? Not the direction of the difference."""
    x = np.asarray(set_size, float)
    y = np.asarray(rt_ms, float)
    levels = sorted(set(task))
    dummies = np.stack([np.asarray(task) == lv for lv in levels[1:]], axis=1).astype(float)
    small = np.column_stack([np.ones_like(x), x])
    full = np.column_stack([small, dummies, dummies * x[:, None]])
    rss0, p0 = _rss(small, y)
    rss1, p1 = _rss(full, y)
    df_extra, df_resid = p1 - p0, len(y) - p1
    if df_extra <= 0 or df_resid <= 0:
        return float("nan")
    if rss1 <= 1e-12 * max(1.0, float(y @ y)):
        return 0.0 if rss0 - rss1 > 1e-9 else float("nan")
    f = ((rss0 - rss1) / df_extra) / (rss1 / df_resid)
    return float(stats.f.sf(f, df_extra, df_resid))


def sequence_score(a: Sequence, b: Sequence) -> float:
    """Needleman–Wunsch alignment of two fixated-item sequences, similarity 1 for a match, 0 otherwise, gap 0,
    divided by the longer length (OAT's ``nw_matching``). With these scores it is LCS length / max length."""
    if not len(a) and not len(b):
        return 1.0
    score = np.zeros((len(a) + 1, len(b) + 1))
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            score[i, j] = max(score[i - 1, j - 1] + (a[i - 1] == b[j - 1]), score[i - 1, j], score[i, j - 1])
    return float(score[-1, -1] / max(len(a), len(b)))


def cumulative_performance(n_fix: Sequence[int], found: Sequence[bool], max_fixations: int) -> np.ndarray:
    """CP(k), k = 1..max_fixations: fraction of trials whose target was found within k fixations."""
    n = np.asarray(n_fix)
    ok = np.asarray(found, bool)
    return np.array([np.mean(ok & (n <= k)) for k in range(1, max_fixations + 1)])


def multimatch(scanpath_a: np.ndarray, scanpath_b: np.ndarray, screen_size: tuple[int, int], **kwargs) -> dict:
    """MultiMatch similarities (vector, direction, length, position, duration) of two scanpaths.

    Scanpaths are arrays with columns x, y, duration (s). Uses the ``multimatch_gaze`` package
    (``pip install multimatch-gaze==0.1.3``).
    """
    try:
        import multimatch_gaze as mm
    except ImportError as err:
        raise ImportError("MultiMatch needs the multimatch_gaze package: pip install multimatch-gaze==0.1.3") from err

    def as_rec(path: np.ndarray) -> np.recarray:
        path = np.asarray(path, float)
        if path.ndim != 2 or path.shape[1] != 3:
            raise ValueError(f"a scanpath must be an n × 3 array (x, y, duration), not {path.shape}.")
        return np.rec.fromarrays(path.T, names="start_x,start_y,duration")

    names = ("vector", "direction", "length", "position", "duration")
    values = mm.docomparison(as_rec(scanpath_a), as_rec(scanpath_b), screensize=list(screen_size), **kwargs)
    return dict(zip(names, (float(v) for v in values), strict=True))
