"""Scores of a decoder on held-out stimuli, each with its chance level and a permutation test.

A decoder predicts an embedding per trial; a stimulus' prediction is the mean over its trials (repeats). With S test
stimuli and their true CLIP image embeddings as candidates (cosine similarity):

- **image retrieval top-k**: the share of stimuli whose own image is among the k most similar of the S candidates
  (chance k/S);
- **brain retrieval top-1**: the share of images whose own stimulus' prediction is the most similar of the S
  predictions (chance 1/S);
- **N-way semantic accuracy** (the Mind-Vis protocol, with the category prototypes of the training images as the
  classifier): the true category and N−1 foil categories drawn at random from the others; correct when the true
  category's prototype is the most similar. Reported as its exact expectation over the foil draws,
  ``C(C−1−m, N−1) / C(C−1, N−1)`` with ``m`` the other categories at least as similar as the true one, so it carries
  no foil-sampling noise (chance 1/N).

Permutation test: the predictions are shuffled among the stimuli ``n_perm`` times; ``p = (1 + #{null ≥ observed}) /
(1 + n_perm)`` (Phipson & Smyth 2010), so the smallest p is ``1 / (1 + n_perm)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import comb

from cortexplorer.decoding.parcels import DecodingInputError


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T


def stimulus_means(pred: np.ndarray, stim_ids: Sequence, order: Sequence) -> np.ndarray:
    """The mean prediction over each stimulus' trials, one row per stimulus of ``order``."""
    stim_ids = np.asarray(stim_ids).astype(str)
    rows = []
    for s in np.asarray(order).astype(str):
        take = stim_ids == s
        if not take.any():
            raise DecodingInputError(f"The test stimulus '{s}' has no trial to decode.")
        rows.append(np.asarray(pred[take], np.float64).mean(0))
    return np.stack(rows)


def retrieval_ranks(similarity: np.ndarray) -> np.ndarray:
    """Per row, how many candidates score above the row's own (the diagonal): 0 = retrieved first."""
    own = np.diag(similarity)
    return (similarity > own[:, None]).sum(1)


def top_k(similarity: np.ndarray, k: int) -> float:
    return float(np.mean(retrieval_ranks(similarity) < k))


def semantic_accuracy(prototype_similarity: np.ndarray, category: np.ndarray, n_way: int) -> float:
    """Expected N-way accuracy; ``prototype_similarity`` is S × C, ``category`` the S true column indices."""
    n_cat = prototype_similarity.shape[1]
    own = prototype_similarity[np.arange(len(category)), category]
    m = (prototype_similarity >= own[:, None]).sum(1) - 1  # other categories at least as similar
    return float(np.mean(comb(n_cat - 1 - m, n_way - 1) / comb(n_cat - 1, n_way - 1)))


def retrieval_margin(similarity: np.ndarray) -> np.ndarray:
    """Per row: the similarity to its own candidate minus the mean similarity to the others (a continuous score of
    how well each prediction singles out its image; 0 = no better than the others)."""
    own = np.diag(similarity)
    return own - (similarity.sum(1) - own) / (similarity.shape[1] - 1)


def sign_flip_p(values: np.ndarray, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided p of a mean of paired differences ``values`` being 0: each difference's sign flipped at random
    ``n_perm`` times (exact under symmetry about 0)."""
    values = np.asarray(values, np.float64)
    observed = abs(values.mean())
    signs = rng.choice([-1.0, 1.0], size=(n_perm, len(values)))
    null = np.abs((signs * values).mean(1))
    return float((1 + np.sum(null >= observed - 1e-15)) / (1 + n_perm))


def permutation_p(statistic: Callable[[np.ndarray], float], n: int, n_perm: int, rng: np.random.Generator
                  ) -> tuple[float, float, np.ndarray]:
    """(observed, p, null): ``statistic(order)`` at the identity order and at ``n_perm`` random orders of n rows."""
    observed = statistic(np.arange(n))
    null = np.array([statistic(rng.permutation(n)) for _ in range(n_perm)])
    return observed, float((1 + np.sum(null >= observed - 1e-12)) / (1 + n_perm)), null


@dataclass(frozen=True)
class Task:
    """The held-out problem: S test stimuli with their true embeddings and categories, and C category prototypes."""

    stim_ids: np.ndarray  # S
    embeddings: np.ndarray  # S × E, true image embeddings
    category: np.ndarray  # S, index into categories
    categories: tuple[str, ...]
    prototypes: np.ndarray  # C × E, mean training-image embedding per category
    n_way: int
    top: int = 5

    def check(self) -> None:
        s, c = len(self.stim_ids), len(self.categories)
        if s < max(self.n_way, self.top) + 1:
            raise DecodingInputError(
                f"The test split has {s} stimuli; the {self.n_way}-way task and top-{self.top} retrieval need at "
                f"least {max(self.n_way, self.top) + 1}. Raise stimuli.test_fraction or lower decoding.n_way.")
        if c < self.n_way:
            raise DecodingInputError(
                f"The {self.n_way}-way semantic task needs {self.n_way} categories but the stimuli have {c} "
                f"({list(self.categories)}). Lower decoding.n_way to at most {c}.")
        present = set(self.category.tolist())
        if len(present) < 2:
            raise DecodingInputError(f"The test split holds only the category {self.categories[self.category[0]]!r}; "
                                     "semantic accuracy needs test stimuli of at least two categories.")


def chance(task: Task) -> dict[str, float]:
    s = len(task.stim_ids)
    return {"image_top1": 1 / s, f"image_top{task.top}": task.top / s, "brain_top1": 1 / s,
            "semantic": 1 / task.n_way}


def score(pred: np.ndarray, task: Task, *, n_perm: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Every metric of ``pred`` (S × E, one row per test stimulus in ``task.stim_ids`` order) with its chance level
    and permutation p-value: ``{metric: {"value", "chance", "p"}}``."""
    task.check()
    sim = cosine(pred, task.embeddings)  # S predictions × S images
    proto = cosine(pred, task.prototypes)
    stats: dict[str, Callable[[np.ndarray], float]] = {
        "image_top1": lambda o: top_k(sim[o], 1),
        f"image_top{task.top}": lambda o: top_k(sim[o], task.top),
        "brain_top1": lambda o: top_k(sim[o].T, 1),
        "semantic": lambda o: semantic_accuracy(proto[o], task.category, task.n_way),
    }
    levels = chance(task)
    out = {}
    for name, stat in stats.items():
        value, p, _ = permutation_p(stat, len(pred), n_perm, rng)
        out[name] = {"value": value, "chance": levels[name], "p": p}
    return out
