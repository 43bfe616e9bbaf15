"""Scoring scanpath models against observed scanpaths, per split, beside the planted observer's own ceilings.

Protocol (OAT's "multi" evaluation): every model draws ``n_samples`` scanpaths per trial; a trial's sequence
score and edit distance are the means over (sample, observed scanpath) pairs; behaviour statistics are dataset
means (per trial over its scanpaths, then over trials) and Δ compares them with the observed ones. The ceiling is
the planted policy scored the same way: its own independent samples against the observed scanpaths, and its
exact per-step NLL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cortexplorer.scanpaths import metrics


def score(predicted: Mapping[str, Sequence[Sequence[int]]], observed: Mapping[str, Sequence[Sequence[int]]],
          targets: Mapping[str, int], max_fixations: int) -> tuple[dict[str, float], np.ndarray]:
    """``predicted`` / ``observed``: trial → its scanpaths. Returns the mean sequence score, mean edit distance,
    the behaviour statistics of the predictions, their Δ against the observed ones and the target-found curve's
    area (mean of CP(1..max_fixations)); and the curve itself."""
    trials = sorted(observed)
    ss, ed = [], []
    for t in trials:
        pairs = [(p, o) for p in predicted[t] for o in observed[t]]
        ss.append(np.mean([metrics.sequence_score(p, o) for p, o in pairs]))
        ed.append(np.mean([metrics.edit_distance(p, o) for p, o in pairs]))
    model_b = metrics.mean_behaviour([predicted[t] for t in trials], [targets[t] for t in trials])
    observed_b = metrics.mean_behaviour([observed[t] for t in trials], [targets[t] for t in trials])
    flat = [(p, targets[t]) for t in trials for p in predicted[t]]
    curve = metrics.target_found_curve([p for p, _ in flat], [g for _, g in flat], max_fixations)
    return {"sequence_score": float(np.mean(ss)), "edit_distance": float(np.mean(ed)),
            "behaviour_delta": metrics.behaviour_delta(model_b, observed_b),
            **{f"b_{k}": v for k, v in model_b.items()}, "found_auc": float(curve.mean())}, curve
