"""Real eye-tracking data for object-level search: a fixations table plus the layouts and trials, mapped to
object scanpaths with OAT's rule (inside a box, else the nearest centre) and its length filter.

Files (tab-separated, BIDS-style ``n/a`` for missing values):

- ``fixations.tsv``: one row per fixation, in viewing order within a (participant, trial): ``trial``, ``x``,
  ``y`` (px, origin at the display's top left), ``duration`` (s), and optionally ``participant``.
- ``trials.tsv``: ``trial``, ``layout``, ``target_slot`` (the layout's slot holding the target), ``split``.
- ``layouts.tsv``: one row per object slot: ``layout``, ``slot``, ``x0``, ``y0``, ``x1``, ``y1`` (px).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cortexplorer.io.tables import read_tsv
from cortexplorer.scanpaths.displays import check_boxes
from cortexplorer.scanpaths.metrics import fixations_to_objects, length_filter

FIXATION_COLUMNS = ("trial", "x", "y", "duration")


@dataclass(frozen=True)
class ObservedScanpaths:
    """Scanpaths keyed by (participant, trial), the object slots in viewing order; ``dropped``: the keys the
    length filter removed."""

    paths: dict[tuple[str, str], list[int]]
    dropped: list[tuple[str, str]]


def read_layout_boxes(layouts: pd.DataFrame, *, path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Each layout's boxes (n × 4, by slot), checked: slots 0..n−1 once each, boxes non-empty and not
    overlapping."""
    out = {}
    for layout, rows in layouts.groupby("layout", sort=False):
        slots = rows["slot"].to_numpy()
        if sorted(slots.tolist()) != list(range(len(rows))):
            raise ValueError(f"'{path}': layout {layout!r} has slots {sorted(slots.tolist())}; its slots must be "
                             f"0..{len(rows) - 1}, each once.")
        boxes = rows.sort_values("slot")[["x0", "y0", "x1", "y1"]].to_numpy(float)
        check_boxes(boxes, where=f"'{path}', layout {layout!r}")
        out[str(layout)] = boxes
    return out


def read_fixations(fixations_path: str | os.PathLike, trials_path: str | os.PathLike,
                   layouts_path: str | os.PathLike, *, screen: tuple[int, int],
                   filter_lengths: bool = True) -> ObservedScanpaths:
    """Object scanpaths from a fixations table. Every trial of ``trials.tsv`` must have fixations, every
    fixation a trial with a layout, and every fixation must lie on the ``screen`` (width, height) px display."""
    fix = read_tsv(fixations_path, required=FIXATION_COLUMNS)
    trials = read_tsv(trials_path, required=("trial", "layout", "target_slot"))
    boxes = read_layout_boxes(read_tsv(layouts_path, required=("layout", "slot", "x0", "y0", "x1", "y1")),
                              path=layouts_path)
    fix["trial"], trials["trial"] = fix["trial"].astype(str), trials["trial"].astype(str)
    trials["layout"] = trials["layout"].astype(str)
    if "participant" not in fix.columns:
        fix["participant"] = "1"
    fix["participant"] = fix["participant"].astype(str)
    no_layout = trials.loc[~trials["layout"].isin(list(boxes)), ["trial", "layout"]]
    if len(no_layout):
        t, lay = no_layout.iloc[0]
        raise ValueError(f"'{trials_path}': trial {t!r} names layout {lay!r}, which '{layouts_path}' does not "
                         f"have (layouts there: {sorted(boxes)[:5]}...). Add the layout's boxes or fix the name.")
    unknown = ~fix["trial"].isin(set(trials["trial"]))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"'{fixations_path}' row {row + 2} names trial {fix['trial'].iloc[row]!r}, which has no "
                         f"layout: it is not in '{trials_path}'. Add the trial (its layout and target slot) there.")
    xy = fix[["x", "y"]].to_numpy(float)
    width, height = screen
    outside = ~np.isfinite(xy).all(axis=1) | (xy[:, 0] < 0) | (xy[:, 0] > width) | (xy[:, 1] < 0) | (
        xy[:, 1] > height)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise ValueError(f"'{fixations_path}' row {row + 2}: fixation ({xy[row, 0]}, {xy[row, 1]}) lies outside the "
                         f"{width} × {height} px display (scanpaths.screen_px). Check the coordinate units and origin "
                         "(px from the top left), or drop fixations off the screen before mapping.")
    seen = set(fix["trial"])
    empty = [t for t in trials["trial"] if t not in seen]
    if empty:
        raise ValueError(f"Trial {empty[0]!r} of '{trials_path}' has an empty scanpath: '{fixations_path}' has no "
                         f"fixation for it ({len(empty)} such trials). Drop those trials or add their fixations.")
    layout_of = dict(zip(trials["trial"], trials["layout"], strict=True))
    paths = {}
    for (participant, trial), rows in fix.groupby(["participant", "trial"], sort=False):
        objects = fixations_to_objects(rows["x"], rows["y"], boxes[layout_of[trial]])
        paths[(participant, trial)] = [int(s) for s in objects]
    keys = list(paths)
    keep = length_filter([len(paths[k]) for k in keys]) if filter_lengths else np.ones(len(keys), bool)
    dropped = [k for k, ok in zip(keys, keep, strict=True) if not ok]
    return ObservedScanpaths(paths={k: paths[k] for k, ok in zip(keys, keep, strict=True) if ok}, dropped=dropped)
