"""Object-level scanpath metrics, as OAT's evaluation computes them (HKUST-NISL/oat_eccv24
``src/evaluation/evaluation_full.py``, ``saliency_metric.py``; ``src/preprocess/img_feature_amazon.py`` for the
fixation → object rule and the length filter).

A scanpath is a sequence of object slots (0-based), without begin/end tokens; the target fixation is part of it
when the observer looked at the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import numpy as np

from cortexplorer.visual_search.metrics import sequence_score

BEHAVIOUR = ("correct", "length", "search", "refixation", "revisit")

__all__ = ["BEHAVIOUR", "behaviour", "behaviour_delta", "edit_distance", "fixations_to_objects", "length_filter",
           "mean_behaviour", "sequence_score", "target_found_curve"]


def fixations_to_objects(x: Sequence[float], y: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """The object of each fixation: the box that contains it (edges included), else the box with the nearest
    centre (Euclidean, no distance limit). ``boxes``: n × 4 (x0, y0, x1, y1), not overlapping."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    boxes = np.asarray(boxes, float)
    inside = ((boxes[None, :, 0] <= x[:, None]) & (x[:, None] <= boxes[None, :, 2])
              & (boxes[None, :, 1] <= y[:, None]) & (y[:, None] <= boxes[None, :, 3]))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    nearest = np.argmin((x[:, None] - centre[None, :, 0]) ** 2 + (y[:, None] - centre[None, :, 1]) ** 2, axis=1)
    return np.where(inside.any(axis=1), np.argmax(inside, axis=1), nearest)


def length_filter(lengths: Sequence[int]) -> np.ndarray:
    """OAT's filter on a dataset's scanpaths: keep those whose length is within mean ± 3 SD (population SD, as
    numpy's default) of all lengths. Returns a boolean per scanpath."""
    n = np.asarray(lengths, float)
    mean, sd = n.mean(), n.std()
    return (n >= mean - 3 * sd) & (n <= mean + 3 * sd)


def behaviour(path: Sequence[int], target: int) -> dict[str, float]:
    """The five behaviour statistics of one scanpath: ``correct`` (the last fixation is the target), ``length``,
    and the ``search`` / ``refixation`` / ``revisit`` ratios. A run of consecutive fixations on one object is a
    first visit (search) or a return to an object of an earlier run (revisit); every fixation after the first in
    a run is a refixation. The three counts add up to the length."""
    if not len(path):
        raise ValueError("An empty scanpath has no behaviour statistics; drop it or give it one fixation.")
    seen: set[int] = set()
    search = refix = revisit = 0
    for obj, run in groupby(path):
        k = len(list(run))
        if obj in seen:
            revisit += 1
        else:
            search += 1
            seen.add(obj)
        refix += k - 1
    n = len(path)
    return {"correct": float(path[-1] == target), "length": float(n), "search": search / n,
            "refixation": refix / n, "revisit": revisit / n}


def mean_behaviour(paths_per_trial: Sequence[Sequence[Sequence[int]]], targets: Sequence[int]) -> dict[str, float]:
    """Dataset means of the five statistics: each trial's mean over its scanpaths (one observed or greedy path,
    or many samples), then the mean over trials."""
    per_trial = [{k: np.mean([behaviour(p, t)[k] for p in paths]) for k in BEHAVIOUR}
                 for paths, t in zip(paths_per_trial, targets, strict=True)]
    return {k: float(np.mean([row[k] for row in per_trial])) for k in BEHAVIOUR}


def behaviour_delta(model: dict[str, float], observed: dict[str, float]) -> float:
    """OAT's behaviour Δ on dataset means: ``nansum_k |model_k − observed_k| / observed_k`` over the five
    statistics, divided by 5. As in the paper's code, a statistic that is 0 for both adds nothing (0/0) and a
    non-zero model statistic against an observed 0 makes Δ infinite."""
    m = np.array([model[k] for k in BEHAVIOUR], float)
    o = np.array([observed[k] for k in BEHAVIOUR], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum(np.abs(m - o) / o) / len(BEHAVIOUR))


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance (insertion, deletion and substitution each cost 1), not normalised."""
    prev = list(range(len(b) + 1))
    for i, ai in enumerate(a, 1):
        cur = [i]
        for j, bj in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ai != bj)))
        prev = cur
    return prev[-1]


def target_found_curve(paths: Sequence[Sequence[int]], targets: Sequence[int], max_fixations: int) -> np.ndarray:
    """Cumulative target-found curve: for k = 1..max_fixations, the fraction of scanpaths that fixated the target
    within their first k fixations."""
    first = np.array([next((i + 1 for i, s in enumerate(p) if s == t), np.inf) for p, t in zip(paths, targets,
                                                                                                strict=True)])
    return np.array([np.mean(first <= k) for k in range(1, max_fixations + 1)])
