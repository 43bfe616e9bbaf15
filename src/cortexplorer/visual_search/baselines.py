"""The visual-search paper's baselines without a backbone, run through the same search loop as eccNET.

- ``chance``: random fixations among the items. Each map holds one pixel of value 1 per grid cell that
  still shows an item (a pixel of the item; fixated cells are painted with the background), so the
  search loop's random tie-break picks each remaining item with equal probability, whatever its size
  and whatever the empty cells. Then n_fix ~ U{1..N} for a set size N in every task, both tasks'
  slopes are the same in expectation, and the asymmetry index is 0 up to trial noise (the paper's
  stored chance: −0.003).
- ``pixelmatch``: template matching on raw pixels after a Gaussian blur (7 × 7, σ = 3, as the paper
  states): the map is the normalised cross-correlation of the blurred target with each same-sized
  window of the blurred display (OpenCV's ``TM_CCOEFF_NORMED``, summed over the colour channels),
  placed at the window's centre. The paper's exact matching call is not in our reference, so this
  is our reading of "template matching on raw pixels, Gaussian blur (7,3)".

Both follow :class:`~cortexplorer.visual_search.eccnet.TopDownSearchModel`'s interface
(``target_kernels``, ``attention_maps``), so :func:`~cortexplorer.visual_search.search.search_many`
drives them unchanged; neither imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from cortexplorer.visual_search.search import cell_labels, gaussian_blur

BLUR = (7, 3.0)  # the paper's pixelMatch blur: kernel size, sigma


@dataclass
class ChanceModel:
    """One pixel of value 1 per cell that still shows an item: the search loop's random tie-break then picks
    among the remaining items uniformly. ``cells``: the display's grid cells (n × H × W masks)."""

    cells: np.ndarray
    background: int

    def __post_init__(self) -> None:
        self._labels = cell_labels(self.cells).ravel()  # the cells never change: labelled once

    def target_kernels(self, target: np.ndarray) -> None:
        return None

    def attention_maps(self, displays: Sequence[np.ndarray], fixations: Sequence[tuple[int, int]],
                       kernels: Sequence[None]) -> list[np.ndarray]:
        maps = []
        for display in displays:
            shown = (np.asarray(display) != self.background).any(axis=-1).ravel()
            item = np.flatnonzero(shown & (self._labels >= 0))  # item pixels in raster order
            cell = self._labels[item]
            order = np.argsort(cell, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(cell[order]) != 0])
            ends = np.r_[starts[1:], len(order)]
            amap = np.zeros(shown.size)
            amap[item[order[(starts + ends) // 2]]] = 1.0  # per cell, its item's middle pixel in raster order
            maps.append(amap.reshape(display.shape[:2]))
        return maps


def _blurred(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    a = a[..., None] if a.ndim == 2 else a
    return np.stack([gaussian_blur(a[..., c], int(BLUR[0]), BLUR[1]) for c in range(a.shape[-1])], axis=-1)


def match_template(display: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation (``TM_CCOEFF_NORMED``, channels summed) of ``template`` with the window of
    ``display`` centred on each pixel (windows reaching past the border read zeros); H × W, in [−1, 1]
    (0 where the window or the template is flat)."""
    th, tw = template.shape[:2]
    t = template - template.mean(axis=(0, 1))
    numerator = np.zeros(display.shape[:2])
    window_ss = np.zeros(display.shape[:2])
    n = th * tw
    for c in range(display.shape[-1]):
        d = display[..., c]
        numerator += signal.correlate(d, t[..., c], mode="same", method="fft")
        # window sums placed as correlate's 'same' output is (rows i - th//2 … i - th//2 + th - 1; zeros past the
        # border): scipy's uniform_filter with origin 0 uses the same window
        s1 = ndimage.uniform_filter(d, size=(th, tw), mode="constant") * n
        s2 = ndimage.uniform_filter(d * d, size=(th, tw), mode="constant") * n
        window_ss += np.maximum(s2 - s1 * s1 / n, 0.0)
    denominator = np.sqrt(window_ss * float((t * t).sum()))
    return np.where(denominator > 1e-9 * max(float(denominator.max()), 1.0), numerator / np.maximum(denominator,
                                                                                                  1e-300), 0.0)


@dataclass
class PixelMatchModel:
    """Template matching of the blurred target on the blurred display (see the module docstring)."""

    def target_kernels(self, target: np.ndarray) -> np.ndarray:
        return _blurred(target)

    def attention_maps(self, displays: Sequence[np.ndarray], fixations: Sequence[tuple[int, int]],
                       kernels: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [match_template(_blurred(d), k) for d, k in zip(displays, kernels, strict=True)]


def chance(network=None, *, cells: np.ndarray, background: int, **_: object) -> ChanceModel:
    return ChanceModel(np.asarray(cells, bool), int(background))


def pixelmatch(network=None, **_: object) -> PixelMatchModel:
    return PixelMatchModel()


BASELINES = {"chance": chance, "pixelmatch": pixelmatch}
