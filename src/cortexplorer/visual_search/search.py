"""The search loop and the image blurs that eccNET, IVSN and the baselines share, without torch.

A baseline job (chance, pixelmatch) imports only this module and numpy/scipy, not the network code
(:mod:`cortexplorer.visual_search.eccnet` imports torch), so it starts in a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

# ---------------------------------------------------------------- sharpening

# OpenCV's fixed kernels for sigma <= 0 (getGaussianKernel's small_gaussian_tab)
_CV_SMALL = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
             7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]}


def gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    """``cv2.getGaussianKernel(ksize, sigma)``."""
    if sigma <= 0 and ksize in _CV_SMALL:
        return np.array(_CV_SMALL[ksize])
    if sigma <= 0:
        sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    x = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def gaussian_blur(a: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(a, (ksize, ksize), sigma)`` (reflect-101 borders = scipy 'mirror')."""
    g = gaussian_kernel(ksize, sigma)
    return ndimage.correlate1d(ndimage.correlate1d(a, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")


def dog_sharpen(a: np.ndarray, dog: Sequence[Sequence[float]], times: int = 3) -> np.ndarray:
    """``A ← A + G(A; k_s, σ_s) − G(A; k_u, σ_u)``, ``times`` times (§2.4)."""
    (ks, ss), (ku, su) = dog
    for _ in range(times):
        a = a + gaussian_blur(a, int(ks), ss) - gaussian_blur(a, int(ku), su)
    return a


# ---------------------------------------------------------------- the search loop

@dataclass
class SearchResult:
    fixations: list[tuple[int, int]]  # (row, col), the start (display centre) first
    found: bool
    n_fix: int  # saccades until the target was fixated; the set size if it never was


def cell_labels(cells: np.ndarray) -> np.ndarray:
    """H × W index of the grid cell holding each pixel (−1 outside every cell)."""
    labels = np.full(cells.shape[1:], -1, int)
    for k, m in enumerate(cells):
        labels[m] = k
    return labels


def search_steps(display: np.ndarray, cells: np.ndarray, target_cell: int, *, background: int, set_size: int,
                 max_fixations: int | None = None, rng: np.random.Generator, recognition_px: int
                 ) -> Generator[tuple[np.ndarray, tuple[int, int]], np.ndarray, SearchResult]:
    """The search loop as a generator: it yields (current image, fixation), is sent back the attention map over
    the display (H × W), and returns the :class:`SearchResult`. :func:`search` drives it with one model call per
    step; :func:`search_many` drives many trials in lockstep so that the network sees them as one batch."""
    image = display.copy()
    labels = cell_labels(cells)
    visited = np.zeros(len(cells), bool)
    target = cells[target_cell]
    h, w = labels.shape
    half = recognition_px // 2
    fixation = (h // 2, w // 2)
    fixations = [fixation]
    for _ in range(len(cells) + 1 if max_fixations is None else max_fixations):
        allowed = labels >= 0
        allowed[allowed] = ~visited[labels[allowed]]
        if not allowed.any():
            break
        amap = yield image, fixation
        scores = np.where(allowed, amap, -np.inf)
        ties = np.flatnonzero(scores == scores.max())  # winner-take-all, ties broken at random
        fixation = tuple(int(v) for v in divmod(int(rng.choice(ties)), w))
        fixations.append(fixation)
        y, x = fixation
        found = bool(target[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1].any())
        cell = labels[y, x]
        if cell >= 0:  # object-level IoR: the cell leaves the WTA domain and the model's input
            visited[cell] = True
            image[cells[cell]] = background
        if found:
            return SearchResult(fixations, True, len(fixations) - 1)
    return SearchResult(fixations, False, set_size)


def search(display: np.ndarray, cells: np.ndarray, target_cell: int,
           attention: Callable[[np.ndarray, tuple[int, int]], np.ndarray], *, background: int, set_size: int,
           max_fixations: int | None = None, rng: np.random.Generator, recognition_px: int) -> SearchResult:
    """Search ``display`` until the target's cell is fixated.

    Each step: ``attention(current_image, fixation)`` → H × W map; the next fixation is its argmax over the
    not-yet-visited cells (ties broken at random with ``rng``); the fixated cell is inhibited and painted with
    ``background`` in the image the model sees from then on. At most ``max_fixations`` (default #cells + 1).
    The target counts as found when a ``recognition_px`` square around the fixation overlaps its cell
    (``n_fix`` = saccades made); if never, ``n_fix`` = ``set_size``.
    """
    steps = search_steps(display, cells, target_cell, background=background, set_size=set_size,
                         max_fixations=max_fixations, rng=rng, recognition_px=recognition_px)
    try:
        request = next(steps)
        while True:
            request = steps.send(attention(*request))
    except StopIteration as stop:
        return stop.value


def search_many(searches: list[Generator], targets: list, model: Any, *, batch_size: int
                ) -> list[SearchResult]:
    """Drive :func:`search_steps` generators in lockstep, ``batch_size`` windows per network call.

    ``targets[i]`` is trial i's target image. Results equal running each trial alone through :func:`search`
    with ``model.attention_map`` (up to floating-point summation order in batched convolutions).
    """
    results: list[SearchResult | None] = [None] * len(searches)
    kernels = [model.target_kernels(t) for t in targets]
    pending: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}
    for i, steps in enumerate(searches):
        try:
            pending[i] = next(steps)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        active = sorted(pending)[:batch_size]
        maps = model.attention_maps([pending[i][0] for i in active], [pending[i][1] for i in active],
                                    [kernels[i] for i in active])
        for i, amap in zip(active, maps, strict=True):
            try:
                pending[i] = searches[i].send(amap)
            except StopIteration as stop:
                results[i] = stop.value
                del pending[i]
    return results  # type: ignore[return-value]
