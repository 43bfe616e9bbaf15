"""Object-level baselines, as OAT's benchmarks draw them: fixations sampled i.i.d. from a distribution over the
shelf's objects, stopping after each fixation with probability ``1 / mean_length`` (the training scanpaths' mean
length; at least one fixation), so the stop ignores the target. The distribution is

- ``random``: uniform;
- ``centre``: the training fixations' histogram over shelf slots (a spatial prior: people look at the middle);
- ``rgb_similarity``: the cosine similarity of raw pixels between the target's crop and each object's crop,
  clipped at 0 and normalised;
- ``saliency``: each object's mean of a spectral-residual saliency map of the display (Hou & Zhang 2007), a
  stand-in for the Itti–Koch map the benchmarks used (pySaliencyMap), which is not packaged here.

Every baseline gives each trial a probability per object, so its per-step NLL is defined too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

BASELINES = ("random", "centre", "rgb_similarity", "saliency")


def spectral_residual_saliency(image: np.ndarray, *, size: int = 64, blur: float = 2.5) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) of an RGB image, computed on a ``size``-px-wide grey copy and
    resized back; normalised to sum 1."""
    grey = np.asarray(image, float).mean(axis=-1)
    h, w = grey.shape
    zoom = size / w
    small = ndimage.zoom(grey, zoom, order=1)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-9)
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="wrap")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = ndimage.gaussian_filter(sal, blur)
    sal = ndimage.zoom(sal, (h / sal.shape[0], w / sal.shape[1]), order=1)[:h, :w]
    return sal / sal.sum()


def object_means(saliency: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    return np.array([saliency[int(y0):int(y1), int(x0):int(x1)].mean() for x0, y0, x1, y1 in boxes])


def rgb_similarity(crops: np.ndarray, target: int) -> np.ndarray:
    flat = crops.reshape(len(crops), -1).astype(float)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-12
    return np.clip(flat @ flat[target], 0.0, None)


def centre_prior(train_paths: Sequence[Sequence[int]], n_objects: int) -> np.ndarray:
    counts = np.bincount([s for p in train_paths for s in p], minlength=n_objects).astype(float)
    return counts / counts.sum()


def distribution(name: str, *, n_objects: int, crops: np.ndarray | None = None, target: int | None = None,
                 display: np.ndarray | None = None, boxes: np.ndarray | None = None,
                 prior: np.ndarray | None = None) -> np.ndarray:
    """One trial's probability per object under baseline ``name``."""
    if name == "random":
        p = np.ones(n_objects)
    elif name == "centre":
        p = np.asarray(prior, float)
    elif name == "rgb_similarity":
        p = rgb_similarity(crops, target)
    elif name == "saliency":
        p = object_means(spectral_residual_saliency(display), boxes)
    else:
        raise ValueError(f"Unknown scanpath baseline {name!r}; use one of {BASELINES}.")
    if p.sum() <= 0:
        raise ValueError(f"Baseline {name!r} gives every object probability 0 in this trial.")
    return p / p.sum()


def sample(p: np.ndarray, mean_length: float, rng: np.random.Generator, max_fixations: int) -> list[int]:
    """i.i.d. fixations from ``p``; after each, stop with probability 1 / mean_length (at most max_fixations)."""
    path = [int(rng.choice(len(p), p=p))]
    while len(path) < max_fixations and rng.random() >= 1.0 / mean_length:
        path.append(int(rng.choice(len(p), p=p)))
    return path
