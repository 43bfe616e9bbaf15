"""eccNET and IVSN (``cortexplorer.visual_search``) on the shelf displays, their pixel fixations mapped to objects
with OAT's rule (inside a box, else the nearest centre).

The search loop is visual_search's own: winner-take-all over the not-yet-visited objects' pixels, the fixated
object painted with the background (object-level inhibition of return), stop when the target is fixated. The
retina window of eccNET assumes square displays, so each shelf is centred on a square canvas of the background
grey; the target image is the target's box cut from the display (the same image, as in OAT's data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cortexplorer.scanpaths.metrics import fixations_to_objects
from cortexplorer.seeding import rng as make_rng
from cortexplorer.visual_search.search import search_many, search_steps

BACKGROUND = 226  # the grey that pads the square canvas and paints fixated objects


def square_canvas(display: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The display centred on a square grey canvas, and the boxes moved with it."""
    h, w = display.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    canvas = np.full((side, side, 3), BACKGROUND, np.uint8)
    canvas[top:top + h, left:left + w] = display
    return canvas, np.asarray(boxes, float) + np.array([left, top, left, top], float)


def object_scanpaths(displays: Sequence[np.ndarray], boxes: Sequence[np.ndarray], targets: Sequence[int],
                     searcher: Any, *, max_fixations: int, seed: int, keys: Sequence[str], model: str,
                     batch_size: int = 8) -> list[list[int]]:
    """One object scanpath per trial (the display, its boxes, the target's slot): the model's pixel fixations
    after the start at the centre, mapped to objects."""
    steps, target_images, moved = [], [], []
    for display, box, target, key in zip(displays, boxes, targets, keys, strict=True):
        canvas, b = square_canvas(display, box)
        cells = np.zeros((len(b), *canvas.shape[:2]), bool)
        for k, (x0, y0, x1, y1) in enumerate(b.astype(int)):
            cells[k, y0:y1, x0:x1] = True
        x0, y0, x1, y1 = b[target].astype(int)
        target_images.append(canvas[y0:y1, x0:x1].copy())
        moved.append(b)
        steps.append(search_steps(canvas, cells, int(target), background=BACKGROUND, set_size=len(b),
                                  max_fixations=max_fixations, recognition_px=1,
                                  rng=make_rng(seed, "scanpaths", model, key)))
    results = search_many(steps, target_images, searcher, batch_size=batch_size)
    out = []
    for result, b in zip(results, moved, strict=True):
        fix = np.asarray(result.fixations[1:], float).reshape(-1, 2)  # (row, col), after the central start
        out.append([int(s) for s in fixations_to_objects(fix[:, 1], fix[:, 0], b)])
    return out
