"""A simulated object-level searcher with a planted, known policy: every scanpath metric has a known ceiling.

At each step the observer is on object ``c`` (before the first fixation: the display centre). It

1. stops, if ``c`` is the target, with probability ``1 − miss`` (the end token);
2. otherwise refixates ``c`` with probability ``refixation`` (not before the first fixation);
3. otherwise moves to another object ``j ≠ c`` with probability ``softmax_j`` of

       logit_j = target·[j is the target] + category·[j has the target's category]
                 − distance·‖grid(j) − grid(c)‖ − inhibition·[j was fixated before]

   where grid distances are in shelf cells (rows and columns) and the similarity lives in a stated feature space:
   object identity and category. A searcher that ignores the target has ``target = category = 0``.

Scanpaths stop at ``max_fixations`` (truncated: no end token). :func:`log_likelihood` is the exact probability of
each step under this policy, the ceiling a learned model's per-step NLL is measured against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

END = -1  # the end token in a step table


@dataclass(frozen=True)
class Policy:
    target: float
    category: float
    distance: float
    inhibition: float
    refixation: float
    miss: float
    max_fixations: int

    def __post_init__(self) -> None:
        for name in ("refixation", "miss"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"Policy {name} must be a probability in [0, 1); got {getattr(self, name)}.")
        if self.max_fixations < 1:
            raise ValueError(f"Policy max_fixations must be >= 1; got {self.max_fixations}.")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Policy:
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Scene:
    """What the observer needs of one trial: grid positions (n × 2, rows and columns), the target's slot and a
    boolean per slot for 'same category as the target'."""

    grid: np.ndarray
    target: int
    same_category: np.ndarray

    @property
    def start(self) -> np.ndarray:
        return self.grid.mean(axis=0)  # the display centre, in grid units


def step_distribution(policy: Policy, scene: Scene, history: Sequence[int]) -> tuple[np.ndarray, float]:
    """(P(next object = j) for every slot, P(end)) after the fixations in ``history``."""
    n = len(scene.grid)
    if not history:
        here, current = scene.start, None
    else:
        current = history[-1]
        here = scene.grid[current]
    visited = np.zeros(n, bool)
    visited[list(history)] = True
    logits = (policy.target * (np.arange(n) == scene.target) + policy.category * scene.same_category
              - policy.distance * np.linalg.norm(scene.grid - here, axis=1) - policy.inhibition * visited)
    p_end = (1.0 - policy.miss) if current == scene.target else 0.0
    if current is not None:
        logits[current] = -np.inf
    move = np.exp(logits - logits.max())
    move /= move.sum()
    if current is not None:
        move *= 1.0 - policy.refixation
        move[current] = policy.refixation
    return move * (1.0 - p_end), p_end


def sample(policy: Policy, scene: Scene, rng: np.random.Generator) -> list[int]:
    """One scanpath (slots fixated, in order), ending on the target unless truncated at ``max_fixations``."""
    path: list[int] = []
    while len(path) < policy.max_fixations:
        move, p_end = step_distribution(policy, scene, path)
        u = rng.random()
        if u < p_end:
            break
        path.append(int(rng.choice(len(move), p=move / move.sum())))
    return path


def log_likelihood(policy: Policy, scene: Scene, path: Sequence[int]) -> np.ndarray:
    """log P of each step of an observed scanpath under the policy: one entry per fixation, plus one for the end
    token when the path ended before ``max_fixations`` (a truncated path has no end step)."""
    out = []
    for t, slot in enumerate(path):
        move, _ = step_distribution(policy, scene, path[:t])
        out.append(np.log(move[slot]))
    if len(path) < policy.max_fixations:
        out.append(np.log(step_distribution(policy, scene, path)[1]))
    return np.asarray(out)
