"""SPoSE: a sparse, non-negative object embedding learned from odd-one-out triplets (reference §5.2, §6.4).

Each object *i* has a non-negative embedding row ``W[i]``; the similarity of two objects is the dot
product ``s_ij = W[i]·W[j]``. In a triplet ``(i, j, k)`` the observer picks the most similar pair
(and so the odd one out) with the softmax of the three pair similarities (SPoSE's choice model,
Hebart et al. 2020)::

    P(pair (i, j) most similar, k odd) = exp(s_ij / T) / (exp(s_ij / T) + exp(s_ik / T) + exp(s_jk / T))

A triplet array is always in THINGS / SPoSE order: one row per trial, the first two columns the
chosen (most similar) pair, the last column the odd one out (SPoSE README: ``col_0`` = anchor_1,
``col_1`` = anchor_2, ``col_2`` = odd one out; its ``tripletize.py`` writes the same order). The
three pairs of a row are always taken in the order (0, 1), (0, 2), (1, 2), so column 0 of any
``(N, 3)`` probability or similarity array belongs to the recorded choice.

What is here:

- :func:`read_things_triplets`: the input door for THINGS-format triplet files.
- :func:`planted_embedding`, :func:`simulate_odd_one_out`: the synthetic embedding observer of
  §6.4, with a known embedding ``X*`` and known choice probabilities.
- :func:`analytic_ceiling` (E[max_k p_k], the best accuracy any model can reach on sampled choices)
  and :func:`repeat_ceiling` (the empirical modal-agreement ceiling from repeated triplets, §5.4).
- :func:`fit_spose`: the SPoSE fit (cross-entropy + (λ/n_objects)·||W||₁, Adam), and
  :func:`spose_objective`, the same loss in numpy.
- :func:`prune_dimensions`, :func:`odd_one_out_accuracy`, :func:`match_dimensions`: the read-outs.

Where this departs from the SPoSE code (ViCCo-Group/SPoSE ``train.py``, ``models/model.py``):

- Non-negativity is a hard constraint, by projection (``W`` clamped at 0 after every Adam step).
  SPoSE adds a soft penalty ``0.01·Σ ReLU(−W)`` instead and lets small negative weights live.
  Projection keeps unused dimensions at exactly 0, so pruning and sparsity counts are clean.
- The L1 penalty is off for a burn-in (default 10 epochs) and then ramps up over a few epochs;
  SPoSE applies it from the first step. From SPoSE's near-uniform start, a penalty acting before
  the dimensions have differentiated can zero a planted dimension for good (see :func:`fit_spose`).
- Minibatches of 512 triplets (SPoSE: 100) and Adam lr 0.01 (SPoSE: 1e-3), a fixed number of
  epochs (SPoSE's stopping rule, a linear regression over a window of training losses, is not
  used): a few hundred objects fit in seconds on one CPU thread.
- Ties in :func:`odd_one_out_accuracy` (the best pair similarity not unique, e.g. all-zero rows)
  count as wrong, as in VICE; SPoSE's ``torch.argmax`` would credit them to the first pair.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, special

from cortexplorer.triplets.settings import SposeHyperparameters

log = logging.getLogger(__name__)

# Column k of an (N, 3) pair array is the pair that leaves triplet column ODD_OF_PAIR[k] out.
PAIRS = ((0, 1), (0, 2), (1, 2))
ODD_OF_PAIR = np.array([2, 1, 0])
SPOSE_PRUNE_THRESHOLD = 0.1  # SPoSE's "non-negative dimension": max weight over objects > 0.1


# --------------------------------------------------------------------------------------------
# Input door


def read_things_triplets(path: str | os.PathLike, n_objects: int | None = None) -> np.ndarray:
    """Read a THINGS-format triplet file: ``(N, 3)`` int64 object indices, the odd one out last.

    One trial per line, three whitespace-separated 0-based object indices, the first two being the
    pair the participant judged most similar and the third the odd one out (SPoSE's
    ``train_90.txt`` / ``test_10.txt``). Blank lines and ``#`` comments are skipped. Integral
    floats such as ``1.000000000000000000e+00`` (what ``np.savetxt`` writes by default, and so
    SPoSE's own ``tripletize.py``) are accepted; any other non-integer value is an error.

    Parameters
    ----------
    path
        The text file.
    n_objects
        Number of objects; when given, every index must be below it.

    Raises
    ------
    ValueError
        Naming the file, the row and the fix, for: an empty file, a row without exactly three
        values, a non-integer value, a negative index, an index ``>= n_objects``, or a triplet that
        repeats an object.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # loadtxt warns on empty input; we raise below
            values = np.loadtxt(path, dtype=np.float64, ndmin=2, comments="#")
    except ValueError as err:
        raise ValueError(_diagnose_triplet_text(path) or f"Triplet file '{path}' could not be parsed ({err}). "
                         "Each line must hold three whitespace-separated integer object indices.") from None
    if values.size == 0:
        raise ValueError(f"Triplet file '{path}' holds no triplets. Write one trial per line: three object "
                         "indices, the most similar pair first and the odd one out last.")
    if values.shape[1] != 3:
        raise ValueError(f"Triplet file '{path}' has {values.shape[1]} columns; a THINGS triplet file has exactly "
                         "3 (object indices: the most similar pair first, the odd one out last).")
    bad = ~(np.isfinite(values) & (values == np.round(values)))
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"Triplet file '{path}', data row {row + 1}: {values[row].tolist()} is not three integers "
                         f"({int(bad.any(axis=1).sum())} such row(s)). The columns must be integer object indices.")
    triplets = values.astype(np.int64)
    try:
        check_triplets(triplets, n_objects)
    except ValueError as err:
        raise ValueError(f"Triplet file '{path}': {err}") from None
    return triplets


def _diagnose_triplet_text(path: Path) -> str | None:
    """The first offending line of a file that numpy could not parse, as a message (None if none found)."""
    with open(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            tokens = line.split("#", 1)[0].split()
            if not tokens:
                continue
            if len(tokens) != 3:
                return (f"Triplet file '{path}', line {lineno}: {len(tokens)} values ({line.strip()!r}); each line "
                        "must hold exactly 3 object indices, the most similar pair first and the odd one out last.")
            for tok in tokens:
                try:
                    float(tok)
                except ValueError:
                    return (f"Triplet file '{path}', line {lineno}: {tok!r} is not an integer ({line.strip()!r}). "
                            "Each line must hold three whitespace-separated integer object indices.")
    return None


def check_triplets(triplets: np.ndarray, n_objects: int | None = None) -> np.ndarray:
    """Check an ``(N, 3)`` integer triplet array (indices ``>= 0``, ``< n_objects``, distinct within a row).

    Returns the array as int64. The messages name the first offending row (0-based) and the fix.
    """
    t = np.asarray(triplets)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triplets must be an (N, 3) array of object indices, not shape {t.shape}.")
    if len(t) == 0:
        raise ValueError("no triplets (an (N, 3) array with N = 0).")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"triplets must hold integer object indices, not {t.dtype}.")
    t = t.astype(np.int64, copy=False)
    neg = t < 0
    if neg.any():
        row = int(np.flatnonzero(neg.any(axis=1))[0])
        raise ValueError(f"row {row + 1} {t[row].tolist()} has a negative object index. Indices are 0-based "
                         "positions in the object list (0 … n_objects − 1).")
    if n_objects is not None:
        high = t >= n_objects
        if high.any():
            row = int(np.flatnonzero(high.any(axis=1))[0])
            raise ValueError(f"row {row + 1} {t[row].tolist()} has an object index >= n_objects = {n_objects} "
                             f"(largest index {int(t.max())}). Indices are 0-based; pass the right number of "
                             "objects, or renumber the file.")
    same = (t[:, 0] == t[:, 1]) | (t[:, 0] == t[:, 2]) | (t[:, 1] == t[:, 2])
    if same.any():
        row = int(np.flatnonzero(same)[0])
        raise ValueError(f"row {row + 1} {t[row].tolist()} repeats an object ({int(same.sum())} such row(s)); "
                         "a triplet needs three different objects.")
    return t


# --------------------------------------------------------------------------------------------
# Choice model


def pair_similarities(W: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """``(N, 3)`` dot-product similarities of each triplet's pairs (0, 1), (0, 2), (1, 2)."""
    E = np.asarray(W, dtype=np.float64)[np.asarray(triplets)]  # (N, 3, D)
    return np.stack([np.einsum("nd,nd->n", E[:, a], E[:, b]) for a, b in PAIRS], axis=1)


def choice_probabilities(X: np.ndarray, triplets: np.ndarray, temperature: float) -> np.ndarray:
    """``(N, 3)`` probabilities that pair (0, 1), (0, 2), (1, 2) is chosen: softmax of the similarities / T."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, not {temperature}.")
    return special.softmax(pair_similarities(X, triplets) / temperature, axis=1)


def analytic_ceiling(X: np.ndarray, triplets: np.ndarray, temperature: float) -> float:
    """E[max_k p_k]: the expected accuracy of the best possible model on choices sampled from ``X``.

    The order of the items within each row does not matter (the maximum is over all three pairs).
    """
    return float(choice_probabilities(X, triplets, temperature).max(axis=1).mean())


def random_triplets(n_objects: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3)`` triplets of three different objects, uniform over ordered triples (repeats across rows allowed)."""
    if n_objects < 3:
        raise ValueError(f"A triplet needs at least 3 objects; got n_objects = {n_objects}.")
    a = rng.integers(0, n_objects, n)
    b = rng.integers(0, n_objects - 1, n)
    b += b >= a
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    c = rng.integers(0, n_objects - 2, n)
    c += c >= lo
    c += c >= hi
    return np.stack([a, b, c], axis=1).astype(np.int64)


def simulate_odd_one_out(X: np.ndarray, n_triplets: int, rng: np.random.Generator, *, temperature: float,
                         repeats: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Odd-one-out choices of an observer whose similarities are the dot products of a known embedding.

    Random triplets of distinct objects (:func:`random_triplets`); in each, the most similar pair is
    drawn from the softmax of the three pair dot products divided by ``temperature`` (SPoSE's
    ``tripletize.py``, probabilistic mode, with β = 1/T), and the row is written in THINGS order:
    the chosen pair first, the odd one out last.

    Parameters
    ----------
    X
        ``(n_objects, D)`` ground-truth embedding, e.g. from :func:`planted_embedding`.
    n_triplets
        Number of triplets shown once.
    rng
        The random stream (triplets and choices).
    temperature
        Softmax temperature T; lower is a more deterministic observer.
    repeats
        ``(n_repeated_triplets, n_repeats)``: that many further random triplets, each shown
        ``n_repeats`` times with an independent choice each time, for :func:`repeat_ceiling`.
        They are appended after the ``n_triplets`` single trials, triplet by triplet.

    Returns
    -------
    triplets
        ``(n_triplets + n_repeated_triplets · n_repeats, 3)`` int64, THINGS order.
    probs
        Same number of rows: the choice probabilities of each row's pairs (0, 1), (0, 2), (1, 2), so
        column 0 is the probability of the choice that was made and ``probs.max(axis=1)`` is each
        trial's contribution to the analytic ceiling E[max_k p_k].
    """
    X = np.asarray(X, dtype=np.float64)
    shown = random_triplets(len(X), n_triplets, rng)
    if repeats is not None:
        n_repeated, n_repeats = repeats
        if n_repeated < 0 or n_repeats < 1:
            raise ValueError(f"repeats must be (n_repeated_triplets >= 0, n_repeats >= 1), not {repeats}.")
        shown = np.concatenate([shown, np.repeat(random_triplets(len(X), n_repeated, rng), n_repeats, axis=0)])
    p = choice_probabilities(X, shown, temperature)
    # Inverse-CDF draw of one of the three pairs per row.
    chosen = (rng.random(len(shown))[:, None] > np.cumsum(p, axis=1)[:, :2]).sum(axis=1)
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[chosen]  # pair first, then the odd one out
    triplets = np.take_along_axis(shown, order, axis=1)
    return triplets, choice_probabilities(X, triplets, temperature)


def repeat_ceiling(triplets: np.ndarray, *, min_repeats: int = 2, leave_one_out: bool = False) -> tuple[float, int]:
    """Noise ceiling from triplets shown more than once (reference §5.4).

    Trials are grouped by their unordered set of objects; only sets shown at least ``min_repeats``
    times count. The default is the THINGS / Brain-Score definition: per triplet, the fraction of
    its trials that agree with its modal odd one out, averaged over triplets. With few repeats it
    is biased upwards, because the mode is fitted to the same trials, most for near-uniform
    triplets (it converges like 1/√repeats): in the planted world of the tests, 25 repeats put it
    about 4 points above E[max p], 400 repeats about 1. ``leave_one_out=True`` instead predicts
    each trial by the mode of the triplet's *other* trials (a tie between modes earns the share
    1/number of tied modes) and averages over trials; that is biased slightly downwards (within
    about 1 point of E[max p] at 25 repeats there).

    Returns (ceiling, number of triplets used).
    """
    t = check_triplets(triplets)
    key = np.sort(t, axis=1)
    _, group, n_trials = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    odd_pos = np.argmax(key == t[:, 2:3], axis=1)  # which of the sorted three was the odd one out
    counts = np.zeros((len(n_trials), 3), dtype=np.int64)
    np.add.at(counts, (group, odd_pos), 1)
    used = n_trials >= min_repeats
    if not used.any():
        return float("nan"), 0
    if not leave_one_out:
        return float((counts.max(axis=1)[used] / n_trials[used]).mean()), int(used.sum())
    trial = used[group]
    others = counts[group[trial]].copy()
    others[np.arange(len(others)), odd_pos[trial]] -= 1
    modes = others == others.max(axis=1, keepdims=True)
    score = modes[np.arange(len(others)), odd_pos[trial]] / modes.sum(axis=1)
    return float(score.mean()), int(used.sum())


def odd_one_out_accuracy(W: np.ndarray, triplets: np.ndarray) -> float:
    """Fraction of triplets whose recorded odd one out (last column) the embedding ``W`` predicts.

    The prediction is the object left out of the pair with the largest dot product. A triplet
    whose largest pair similarity is shared by two pairs counts as wrong (as in VICE).
    """
    t = check_triplets(triplets, len(W))
    s = pair_similarities(W, t)
    best = s.max(axis=1, keepdims=True)
    unique_best = (s == best).sum(axis=1) == 1
    predicted_odd = t[np.arange(len(t)), ODD_OF_PAIR[np.argmax(s, axis=1)]]
    return float(np.mean(unique_best & (predicted_odd == t[:, 2])))


# --------------------------------------------------------------------------------------------
# Synthetic ground truth


def planted_embedding(n_objects: int, categories: np.ndarray, n_category_dims: int, n_random_dims: int,
                      rng: np.random.Generator, *, scale: float, density: float = 0.2,
                      shape: float = 4.0) -> np.ndarray:
    """A sparse non-negative ground-truth embedding ``X*`` (§6.4): category dimensions plus sparse random ones.

    Every non-zero weight is ``scale · Gamma(shape, 1/shape)``: mean ``scale``, coefficient of
    variation ``1/√shape``; ``shape = 1`` is the exponential. Columns ``0 … n_category_dims − 1``
    are category dimensions: object *i* loads only on column ``categories[i]``. Columns
    ``n_category_dims …`` are sparse random dimensions (features shared across categories): each
    object loads on each with probability ``density`` and is 0 otherwise.

    The default ``shape = 4`` keeps the tail short on purpose. Dot products grow with the square
    of the weights, so an exponential tail puts a few objects where every choice involving them is
    near-certain, and there the data no longer pin down how large their weights are (a fitted
    embedding then still finds the dimensions, but correlates worse with the planted magnitudes).

    Returns an ``(n_objects, n_category_dims + n_random_dims)`` float64 array.
    """
    cats = np.asarray(categories)
    if cats.shape != (n_objects,) or not np.issubdtype(cats.dtype, np.integer):
        raise ValueError(f"categories must be one integer per object, shape ({n_objects},); got {cats.dtype} "
                         f"{cats.shape}.")
    if cats.min() < 0 or cats.max() >= n_category_dims:
        raise ValueError(f"categories must lie in 0 … {n_category_dims - 1} (n_category_dims = {n_category_dims}); "
                         f"got {cats.min()} … {cats.max()}.")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], not {density}.")
    weights = scale * rng.gamma(shape, 1 / shape, (n_objects, n_category_dims + n_random_dims))
    X = np.zeros_like(weights)
    X[np.arange(n_objects), cats] = weights[np.arange(n_objects), cats]
    loads = rng.random((n_objects, n_random_dims)) < density
    X[:, n_category_dims:] = np.where(loads, weights[:, n_category_dims:], 0.0)
    return X


# --------------------------------------------------------------------------------------------
# Fitting


@dataclass
class SposeFit:
    """A fitted SPoSE embedding and its training record.

    Attributes
    ----------
    W
        ``(n_objects, n_dims)`` non-negative embedding (unpruned; see :func:`prune_dimensions`).
    loss
        Per epoch: mean over minibatches of cross-entropy + ramp · (λ/n_objects)·||W||₁.
    cross_entropy
        Per epoch: the mean cross-entropy part alone.
    n_dims
        Per epoch: dimensions whose largest weight exceeds SPoSE's 0.1.
    val_accuracy
        Per epoch: :func:`odd_one_out_accuracy` on the validation triplets (empty without them).
    params
        The hyperparameters, to be saved beside ``W``.
    seconds
        Wall time of the fit.
    """

    W: np.ndarray
    loss: np.ndarray
    cross_entropy: np.ndarray
    n_dims: np.ndarray
    val_accuracy: np.ndarray
    params: dict
    seconds: float


def spose_objective(W: np.ndarray, triplets: np.ndarray, l1: float) -> float:
    """The SPoSE loss of ``W`` on ``triplets``: mean cross-entropy of the chosen pair + (l1/n_objects)·||W||₁."""
    s = pair_similarities(W, triplets)
    cross_entropy = float(np.mean(special.logsumexp(s, axis=1) - s[:, 0]))
    return cross_entropy + l1 / len(W) * float(np.abs(W).sum())


def fit_spose(triplets: np.ndarray, n_objects: int, hyper: SposeHyperparameters, *, device: str,
              progress: Callable[[int, dict], None] | None = None, validation: np.ndarray | None = None) -> SposeFit:
    """Fit a SPoSE embedding to odd-one-out triplets (THINGS order: chosen pair first, odd one out last).

    Loss per minibatch, as in SPoSE ``train.py`` (and :func:`spose_objective`)::

        mean_b CE(softmax(s_01, s_02, s_12), pair 0) + (l1 / n_objects) · Σ_ij |W_ij|

    i.e. the λ of the SPoSE paper and README divided by the number of objects, times the
    unnormalised L1 norm of the whole matrix, added once per minibatch to the batch-mean
    cross-entropy. ``W`` starts at N(0.1, 0.01) (SPoSE's init) clamped at 0, is updated by Adam,
    and is projected back onto W ≥ 0 after each step (SPoSE: a soft 0.01·Σ ReLU(−W) penalty).

    The penalty is off for the first ``hyper.l1_burnin`` epochs and then ramps linearly to full
    strength over ``hyper.l1_warmup`` epochs (SPoSE applies it from the first step). From SPoSE's
    near-uniform start the dimensions take several epochs to pick up distinct features; a penalty
    that acts earlier pushes the dimensions still undecided to 0, which is absorbing (an all-zero
    column gets no gradient), and a whole planted dimension can be lost for good. The config's
    defaults were tuned on the §6.4 planted world (:func:`planted_embedding`, 150–200 objects,
    30–40k triplets); λ is data dependent (SPoSE's README uses 0.008 on THINGS).

    The temperature is 1, so an embedding simulated at temperature T is recovered up to 1/√T.

    Parameters
    ----------
    triplets
        ``(N, 3)`` training triplets.
    n_objects
        Number of objects (rows of ``W``).
    hyper
        The fit's hyperparameters (:class:`SposeHyperparameters`).
    device
        Torch device (``cpu``, ``cuda``, ``auto``; see :func:`cortexplorer.device.resolve`). The
        fit uses torch's current thread setting; a few hundred objects run fastest on one thread.
    progress
        Called after each epoch as ``progress(epoch, stats)`` with ``stats`` holding ``loss``,
        ``cross_entropy``, ``n_dims``, ``val_accuracy`` (nan without validation) and ``seconds``.
        Independently, the module logger reports at INFO about ten times per fit.
    validation
        Optional ``(M, 3)`` held-out triplets; their accuracy is recorded each epoch.
    """
    import torch

    from cortexplorer.device import resolve

    train = check_triplets(triplets, n_objects)
    if validation is not None:
        validation = check_triplets(validation, n_objects)
    dev = torch.device(resolve(device))
    gen = torch.Generator().manual_seed(hyper.seed)
    W = torch.empty(n_objects, hyper.n_dims).normal_(0.1, 0.01, generator=gen).clamp_(min=0).to(dev).requires_grad_()
    optim = torch.optim.Adam([W], lr=hyper.lr)
    data = torch.as_tensor(train, device=dev)
    record: dict[str, list[float]] = {"loss": [], "cross_entropy": [], "n_dims": [], "val_accuracy": []}
    start = time.perf_counter()
    for epoch in range(1, hyper.epochs + 1):
        order = torch.randperm(len(train), generator=gen).to(dev)
        total, ce_total, n_batches = _spose_epoch(W, optim, data, order, hyper, epoch)
        W_now = W.detach().cpu().numpy().astype(np.float64)
        stats = {"loss": total / n_batches, "cross_entropy": ce_total / n_batches,
                 "n_dims": int((W_now.max(axis=0) > SPOSE_PRUNE_THRESHOLD).sum()),
                 "val_accuracy": odd_one_out_accuracy(W_now, validation) if validation is not None else float("nan"),
                 "seconds": time.perf_counter() - start}
        for key in record:
            record[key].append(stats[key])
        if progress is not None:
            progress(epoch, stats)
        _log_epoch(epoch, hyper.epochs, stats, validation is not None)
    return SposeFit(W=W.detach().cpu().numpy().astype(np.float64), loss=np.array(record["loss"]),
                    cross_entropy=np.array(record["cross_entropy"]), n_dims=np.array(record["n_dims"], dtype=int),
                    val_accuracy=np.array(record["val_accuracy"]) if validation is not None else np.array([]),
                    params=_spose_params(hyper), seconds=time.perf_counter() - start)


def _spose_params(hyper: SposeHyperparameters) -> dict:
    return {"n_dims": hyper.n_dims, "l1": hyper.l1, "epochs": hyper.epochs, "batch_size": hyper.batch_size,
            "lr": hyper.lr, "l1_burnin": hyper.l1_burnin, "l1_warmup": hyper.l1_warmup, "seed": hyper.seed,
            "optimizer": "adam", "init": "N(0.1, 0.01) clamped at 0", "nonnegativity": "projection"}


def _spose_epoch(W, optim, data, order, hyper: SposeHyperparameters, epoch: int) -> tuple[float, float, int]:
    """One pass of Adam steps over the minibatches of ``data`` in ``order``, projecting W onto W ≥ 0 after each;
    returns the summed loss, the summed cross-entropy and the number of minibatches."""
    import torch

    size = hyper.batch_size
    n_objects, n_batches = W.shape[0], math.ceil(len(data) / size)
    target = torch.zeros(min(size, len(data)), dtype=torch.long, device=data.device)
    total = ce_total = 0.0
    for b in range(n_batches):
        ramp = hyper.l1_ramp(epoch, b, n_batches)
        batch = data[order[b * size:(b + 1) * size]]
        e = [W[batch[:, c]] for c in range(3)]  # three (B, D) gathers: a cheaper backward than one (B, 3, D)
        logits = torch.stack([(e[i] * e[j]).sum(1) for i, j in PAIRS], dim=1)
        ce = torch.nn.functional.cross_entropy(logits, target[:len(batch)])
        loss = ce + ramp * hyper.l1 / n_objects * W.abs().sum()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        with torch.no_grad():
            W.clamp_(min=0)
        total += loss.item()
        ce_total += ce.item()
    return total, ce_total, n_batches


def _log_epoch(epoch: int, epochs: int, stats: dict, validated: bool) -> None:
    if epoch % max(1, epochs // 10) == 0 or epoch == epochs:
        log.info("SPoSE epoch %d/%d: loss %.4f (cross-entropy %.4f), %d dims > %.1f%s, %.1f s", epoch, epochs,
                 stats["loss"], stats["cross_entropy"], stats["n_dims"], SPOSE_PRUNE_THRESHOLD,
                 f", validation accuracy {stats['val_accuracy']:.3f}" if validated else "", stats["seconds"])


# --------------------------------------------------------------------------------------------
# Read-outs


def prune_dimensions(W: np.ndarray, threshold: float, *,
                     return_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Keep the dimensions whose largest weight exceeds ``threshold``, sorted by total weight, descending.

    SPoSE's rule (``get_nneg_dims`` / ``remove_zeros``: ``max > 0.1``, strictly; then columns
    sorted by their L1 norm, largest first). With ``return_index`` also returns the kept columns'
    indices in ``W``, in the new order.
    """
    W = np.asarray(W, dtype=np.float64)
    kept = np.flatnonzero(W.max(axis=0) > threshold)
    kept = kept[np.argsort(-np.abs(W[:, kept]).sum(axis=0), kind="stable")]
    return (W[:, kept], kept) if return_index else W[:, kept]


def match_dimensions(W_fit: np.ndarray, X_true: np.ndarray, *,
                     return_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Match fitted to planted dimensions one-to-one (Hungarian, on Pearson r over objects).

    Returns, for each planted dimension (column of ``X_true``), the correlation with the fitted
    column it was assigned (scipy ``linear_sum_assignment`` maximising the summed r). A planted
    dimension left unmatched, because ``W_fit`` has fewer columns, gets nan. A constant column
    (e.g. an all-zero fitted dimension) has no defined correlation; it is scored as r = 0 for the
    assignment, and a planted dimension matched to it reports 0. With ``return_index`` also
    returns the matched fitted column per planted dimension (−1 when unmatched).
    """
    W_fit = np.asarray(W_fit, dtype=np.float64)
    X_true = np.asarray(X_true, dtype=np.float64)
    if len(W_fit) != len(X_true):
        raise ValueError(f"W_fit has {len(W_fit)} objects but X_true has {len(X_true)}; both need one row per object.")
    xc, wc = X_true - X_true.mean(axis=0), W_fit - W_fit.mean(axis=0)
    xn, wn = np.linalg.norm(xc, axis=0), np.linalg.norm(wc, axis=0)
    ok = np.outer(xn > 0, wn > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(ok, (xc.T @ wc) / np.outer(xn, wn), 0.0)
    rows, cols = optimize.linear_sum_assignment(corr, maximize=True)
    matched = np.full(X_true.shape[1], np.nan)
    index = np.full(X_true.shape[1], -1, dtype=np.int64)
    matched[rows], index[rows] = corr[rows, cols], cols
    return (matched, index) if return_index else matched
