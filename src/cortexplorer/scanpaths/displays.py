"""Shelf displays for object-level search (OAT, ECCV 2024): rows × columns of product-like objects, each with its
box, and a target per trial that is one of the shelf's objects (the same image, as in the paper's data).

The paper's shelves: 2 × 11 (wine) and 3 × 9 (yogurt) in its own sets, 6 × 14 in the Amazon book-cover set.
Here the objects are images of an image set (the demo world's pool, or a user's folder), drawn without
replacement per layout. Every display is identified by its layout and every trial by (layout, target), so two
held-out splits exist: **unseen layout** (trials on layouts no training trial used) and **unseen target**
(trials on training layouts whose target object is never a training target; it may appear as a distractor).

Tables (one row per object slot, one row per trial) are the stage's contract; images are rendered from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

SPLITS = ("train", "val", "test", "unseen_layout", "unseen_target")
LAYOUT_COLUMNS = ("layout", "slot", "row", "col", "x0", "y0", "x1", "y1", "stim_id", "category")
TRIAL_COLUMNS = ("trial", "layout", "target_slot", "target_stim_id", "target_category", "split")


@dataclass(frozen=True)
class Shelf:
    """Geometry of a shelf: ``rows`` × ``cols`` cells of ``cell`` px with ``gap`` px between them and around
    them; slot ``k`` is row ``k // cols``, column ``k % cols`` (row-major from the top left)."""

    rows: int
    cols: int
    cell: int
    gap: int

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1 or self.cell < 4 or self.gap < 0:
            raise ValueError(f"A shelf needs rows, cols >= 1, cell >= 4 px and gap >= 0; got {self}.")

    @property
    def n_slots(self) -> int:
        return self.rows * self.cols

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in px."""
        pitch = self.cell + self.gap
        return self.cols * pitch + self.gap, self.rows * pitch + self.gap

    def grid(self) -> np.ndarray:
        """(row, col) of every slot, n_slots × 2."""
        k = np.arange(self.n_slots)
        return np.stack([k // self.cols, k % self.cols], axis=1)

    def boxes(self) -> np.ndarray:
        """x0, y0, x1, y1 (px, x1/y1 exclusive) of every slot, n_slots × 4."""
        pitch = self.cell + self.gap
        rc = self.grid()
        x0, y0 = self.gap + rc[:, 1] * pitch, self.gap + rc[:, 0] * pitch
        return np.stack([x0, y0, x0 + self.cell, y0 + self.cell], axis=1).astype(float)


def check_boxes(boxes: np.ndarray, *, where: str) -> None:
    """Boxes (n × 4: x0, y0, x1, y1) must be non-empty and must not overlap: a fixation inside two boxes would
    belong to two objects."""
    boxes = np.asarray(boxes, float)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes):
        raise ValueError(f"{where}: boxes must be an n × 4 array (x0, y0, x1, y1) with n >= 1; got {boxes.shape}.")
    if not np.isfinite(boxes).all():
        raise ValueError(f"{where}: a box has a missing or infinite coordinate.")
    empty = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if len(empty):
        raise ValueError(f"{where}: box {int(empty[0])} {boxes[empty[0]].tolist()} is empty (x1 <= x0 or y1 <= y0).")
    wide = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    tall = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    overlap = (wide > 0) & (tall > 0)
    np.fill_diagonal(overlap, False)
    if overlap.any():
        i, j = np.argwhere(overlap)[0]
        raise ValueError(f"{where}: boxes {int(i)} {boxes[i].tolist()} and {int(j)} {boxes[j].tolist()} overlap; "
                         "a fixation inside both could not be given to one object. Fix the layout's boxes.")


def make_displays(objects: pd.DataFrame, shelf: Shelf, *, n_layouts: int, trials_per_layout: int,
                  heldout_layouts: float, heldout_targets: float, val_fraction: float, test_fraction: float,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Layouts and trials.

    ``objects``: one row per object image (``stim_id``, ``category``). Each layout places ``shelf.n_slots``
    distinct objects at random. ``heldout_layouts`` of the layouts are the unseen-layout split; ``heldout_targets``
    of the objects are never a target of a training, validation or test trial (their trials on the other
    layouts are the unseen-target split). The remaining trials are split at random into train / val / test.
    Each layout gets ``trials_per_layout`` trials with distinct target slots.
    """
    n = shelf.n_slots
    if len(objects) < n:
        raise ValueError(f"A {shelf.rows} × {shelf.cols} shelf needs {n} distinct objects; the image set has "
                         f"{len(objects)}. Use a smaller shelf or more images.")
    if not 1 <= trials_per_layout <= n:
        raise ValueError(f"trials_per_layout must be 1..{n} (one target per slot at most); got {trials_per_layout}.")
    n_heldout_layouts = round(heldout_layouts * n_layouts)
    if n_layouts - n_heldout_layouts < 1 or (heldout_layouts > 0 and n_heldout_layouts < 1):
        raise ValueError(f"{n_layouts} layouts with heldout_layouts {heldout_layouts} leave "
                         f"{n_heldout_layouts} held-out and {n_layouts - n_heldout_layouts} seen layouts; "
                         "each split needs at least one.")
    stim = objects["stim_id"].astype(str).to_numpy()
    category = objects["category"].astype(str).to_numpy()
    heldout_obj = set(rng.choice(stim, size=round(heldout_targets * len(stim)), replace=False).tolist())
    boxes = shelf.boxes()
    rc = shelf.grid()
    layout_rows, trial_rows = [], []
    unseen_layout = set(rng.choice(n_layouts, size=n_heldout_layouts, replace=False).tolist())
    for layout in range(n_layouts):
        name = f"L{layout:03d}"
        pick = rng.choice(len(stim), size=n, replace=False)
        for slot, k in enumerate(pick):
            layout_rows.append({"layout": name, "slot": slot, "row": int(rc[slot, 0]), "col": int(rc[slot, 1]),
                                "x0": boxes[slot, 0], "y0": boxes[slot, 1], "x1": boxes[slot, 2], "y1": boxes[slot, 3],
                                "stim_id": stim[k], "category": category[k]})
        for slot in rng.choice(n, size=trials_per_layout, replace=False):
            k = pick[slot]
            if layout in unseen_layout:
                split = "unseen_layout"
            elif stim[k] in heldout_obj:
                split = "unseen_target"
            else:
                split = None  # train / val / test, drawn below
            trial_rows.append({"trial": f"{name}_T{int(slot):02d}", "layout": name, "target_slot": int(slot),
                               "target_stim_id": stim[k], "target_category": category[k], "split": split})
    trials = pd.DataFrame(trial_rows, columns=TRIAL_COLUMNS)
    seen = np.flatnonzero(trials["split"].isna().to_numpy())
    order = rng.permutation(seen)
    n_val, n_test = round(val_fraction * len(seen)), round(test_fraction * len(seen))
    trials.loc[order[:n_val], "split"] = "val"
    trials.loc[order[n_val:n_val + n_test], "split"] = "test"
    trials.loc[order[n_val + n_test:], "split"] = "train"
    asked = {"train": 1.0, "val": val_fraction, "test": test_fraction, "unseen_layout": heldout_layouts,
             "unseen_target": heldout_targets}
    for split, fraction in asked.items():
        if fraction > 0 and not (trials["split"] == split).any():
            raise ValueError(f"No trial falls in the {split!r} split ({n_layouts} layouts × {trials_per_layout} "
                             "trials); use more layouts or trials per layout.")
    return pd.DataFrame(layout_rows, columns=LAYOUT_COLUMNS), trials


def render(layout: pd.DataFrame, images: dict[str, np.ndarray], shelf: Shelf, *,
           background: Sequence[int] = (236, 228, 214)) -> np.ndarray:
    """One layout's display (H × W × 3 uint8): each object's image resized into its box on a shelf-coloured
    background."""
    width, height = shelf.size
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = np.asarray(background, np.uint8)
    for row in layout.itertuples():
        x0, y0, x1, y1 = int(row.x0), int(row.y0), int(row.x1), int(row.y1)
        pixels = images[row.stim_id]
        if pixels.shape[:2] != (y1 - y0, x1 - x0):
            pixels = np.asarray(Image.fromarray(pixels).resize((x1 - x0, y1 - y0), Image.BILINEAR))
        canvas[y0:y1, x0:x1] = pixels
    return canvas


def crops(display: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """The objects as the model sees them: each box cut from the display and resized to ``size`` px
    (n × size × size × 3 uint8)."""
    out = np.empty((len(boxes), size, size, 3), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes).round().astype(int)):
        patch = display[y0:y1, x0:x1]
        out[i] = patch if patch.shape[:2] == (size, size) else np.asarray(
            Image.fromarray(patch).resize((size, size), Image.BILINEAR))
    return out
