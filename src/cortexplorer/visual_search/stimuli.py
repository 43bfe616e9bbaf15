"""The six search-asymmetry experiments of eccNET (12 tasks), drawn with numpy.

Geometry follows kreimanlab/VisualSearchAsymmetry ``extras/experiment_stimuli_generators`` at
30 px/deg; every pixel size is multiplied by ``scale`` (0.5 draws everything at half size, i.e.
15 px/deg). Items sit in a random subset of the cells of a square grid, each shifted by a uniform
integer jitter inside its cell; the target's cell is random among them. Trials are numbered
set-size-major (``trial = set_size_index · trials_per_set_size + n``) as in the original.

Departures from the original, on purpose: PNG instead of JPEG (lossless); items are drawn as
binary shapes by distance tests (no anti-aliasing); the intersection items' four variants
(identity, vertical flip, transpose, transpose + horizontal flip) are drawn at random per item;
the target crop is the target item exactly as drawn in its display (same orientation/variant).
Bar angles are OpenCV's (degrees counter-clockwise from vertical), so the "20°" target is
tilted 20° clockwise (cv2 angle −20).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cortexplorer.io.atomic import atomic_dir
from cortexplorer.io.tables import read_tsv, write_json, write_tsv
from cortexplorer.seeding import rng as make_rng

DEG2PX = 30  # the reference resolution; `scale` multiplies it


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment (a pair of tasks) at 30 px/deg; ``tasks[0]`` and ``tasks[1]`` swap target and distractor."""

    name: str
    tasks: tuple[str, str]
    display_px: int
    background: int
    grid: int
    cell_px: int
    jitter_px: int
    box_px: int
    set_sizes: tuple[int, ...]
    trials_per_set_size: int
    dog: tuple[tuple[int, float], tuple[int, float]]  # (ksize, sigma) sharpening / blurring Gaussians (§2.4)


EXPERIMENTS: dict[str, ExperimentSpec] = {s.name: s for s in (
    ExperimentSpec("curvature", ("curve_in_lines", "line_in_curves"), 339, 0, 6, 56, 8, 48, (8, 16, 32), 30,
                   ((3, 1), (5, 3))),
    ExperimentSpec("lighting", ("top_down", "left_right"), 198, 27, 4, 49, 18, 31, (1, 6, 12), 30,
                   ((3, 0), (5, 1))),
    ExperimentSpec("intersection_cross", ("cross", "non_cross"), 615, 255, 3, 205, 27, 177, (3, 6, 9), 36,
                   ((5, 3), (7, 5))),
    ExperimentSpec("intersection_tl", ("Ts", "Ls"), 615, 255, 3, 205, 27, 177, (3, 6, 9), 36,
                   ((5, 3), (7, 5))),
    ExperimentSpec("orientation_homo", ("homo_t0", "homo_t20"), 339, 255, 4, 84, 15, 69, (1, 4, 8, 12), 30,
                   ((3, 1), (5, 3))),
    ExperimentSpec("orientation_hetero", ("hetero_t0", "hetero_t20"), 339, 255, 4, 84, 15, 69, (1, 4, 8, 12), 30,
                   ((3, 1), (5, 3))),
)}
TASKS: dict[str, str] = {task: spec.name for spec in EXPERIMENTS.values() for task in spec.tasks}


def experiment_spec(name: str) -> ExperimentSpec:
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown visual-search experiment {name!r}; use one of {list(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


@dataclass(frozen=True)
class Geometry:
    """Pixel sizes of one experiment at one scale."""

    display: int
    grid: int
    cell: int
    jitter: int  # offsets are drawn from 0 .. jitter-1
    box: int
    scale: float
    offset: int  # grid origin (the grid is centred in the display)

    @property
    def deg2px(self) -> float:
        return DEG2PX * self.scale


def geometry(spec: ExperimentSpec, scale: float) -> Geometry:
    if not scale > 0:
        raise ValueError(f"scale must be > 0 (1 = the reference 30 px/deg), not {scale}.")
    px = lambda v: max(1, round(v * scale))  # noqa: E731
    display, cell, box = px(spec.display_px), px(spec.cell_px), px(spec.box_px)
    cell = min(cell, display // spec.grid)
    box = min(box, cell)
    jitter = max(1, min(px(spec.jitter_px), cell - box + 1))
    return Geometry(display, spec.grid, cell, jitter, box, scale, (display - spec.grid * cell) // 2)


# ---------------------------------------------------------------- items (grey-level box × box arrays)

def _coords(box: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates relative to the box centre (x to the right, y down)."""
    c = (box - 1) / 2
    y, x = np.mgrid[0:box, 0:box].astype(float)
    return x - c, y - c


def _bar(box: int, length: float, width: float, angle_deg: float) -> np.ndarray:
    """A ``length`` × ``width`` bar through the box centre; angle counter-clockwise from vertical (OpenCV's sign)."""
    x, y = _coords(box)
    t = np.deg2rad(angle_deg)
    ux, uy = -np.sin(t), -np.cos(t)  # the long axis (y points down)
    along, across = x * ux + y * uy, x * uy - y * ux
    return (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)


def _segment(box: int, length: float, width: float, angle_deg: float) -> np.ndarray:
    """A bar whose angle is counter-clockwise from horizontal (curvature experiment's convention)."""
    return _bar(box, length, width, angle_deg - 90)


def _arc(box: int, radius: float, span: float, width: float, angle_deg: float) -> np.ndarray:
    """An arc of ``span`` radians whose chord lies along ``angle_deg`` (ccw from horizontal), bulging to its left,
    centred between chord and apex."""
    x, y = _coords(box)
    t = np.deg2rad(angle_deg)
    a = x * np.cos(t) - y * np.sin(t)  # along the chord
    n = x * np.sin(t) + y * np.cos(t)  # normal (towards the bulge is negative n, i.e. "up" at angle 0)
    sag = radius * (1 - np.cos(span / 2))
    cy = radius - sag / 2  # circle centre at n = +cy
    dx, dy = a, n - cy
    d = np.hypot(dx, dy)
    phi = np.arctan2(dx, -dy)  # 0 at the apex
    return (np.abs(d - radius) <= width / 2) & (np.abs(phi) <= span / 2)


def _shaded_disc(box: int, background: int, bright: str) -> np.ndarray:
    """A disc with a 16-step luminance ramp 0…255 (step 17); ``bright`` ∈ top, bottom, left, right."""
    x, y = _coords(box)
    disc = x ** 2 + y ** 2 <= (box / 2) ** 2
    pos = {"bottom": y, "top": -y, "right": x, "left": -x}[bright] + (box - 1) / 2
    value = 17 * np.clip(np.floor(pos * 16 / box), 0, 15)
    return np.where(disc, value, background)


def _strokes(box: int, shape: str, variant: int, g: float) -> np.ndarray:
    """Intersection items: a 5.5° shape inside a 0.4° border, strokes 0.55° (black on white)."""
    border, stroke = round(0.2 * DEG2PX * g), max(1, round(0.55 * DEG2PX * g))
    lo, hi = border, box - border
    mid = box // 2
    m = np.zeros((box, box), bool)
    half = stroke // 2
    vbar = slice(mid - half, mid - half + stroke)
    if shape == "cross":
        m[lo:hi, vbar] = True
        m[vbar, lo:hi] = True
    elif shape == "non_cross":  # vertical bar + two half-bars at different heights on opposite sides
        m[lo:hi, vbar] = True
        y1, y2 = lo + (hi - lo) // 3, lo + 2 * (hi - lo) // 3
        m[y1 - half:y1 - half + stroke, lo:mid] = True
        m[y2 - half:y2 - half + stroke, mid:hi] = True
    elif shape == "L":
        m[lo:hi, lo:lo + stroke] = True
        m[hi - stroke:hi, lo:hi] = True
    elif shape == "T":
        m[lo:lo + stroke, lo:hi] = True
        m[lo:hi, vbar] = True
    else:
        raise ValueError(f"unknown intersection shape {shape!r}")
    m = [m, m[::-1], m.T, m.T[:, ::-1]][variant]
    return np.where(m, 0, 255)


CURVATURE_ANGLES = (-45, -90, -135, 180)
HETERO_ANGLES = (-80, -60, -40, 20, 40, 60, 80)


def _item_painter(spec: ExperimentSpec, task: str, g: Geometry) -> Callable[[bool, int, np.random.Generator, list],
                                                                             np.ndarray]:
    """``paint(is_target, item_index, rng, used_angles)`` → the item's grey box (box × box)."""
    s = g.scale
    box = g.box
    if spec.name == "curvature":
        curve = lambda angle: np.where(_arc(box, 30 * s, 1.3, 5 * s, angle), 255, spec.background)  # noqa: E731
        line = lambda angle: np.where(_segment(box, 36 * s, 5 * s, angle), 255, spec.background)  # noqa: E731
        target, distractor = (curve, line) if task == "curve_in_lines" else (line, curve)
        return lambda is_t, i, rng, used: (target if is_t else distractor)(CURVATURE_ANGLES[i % 4])
    if spec.name == "lighting":
        # top_down: distractors lit from below, target lit from above; left_right: lit from the right / left
        t, d = ("top", "bottom") if task == "top_down" else ("left", "right")
        return lambda is_t, i, rng, used: _shaded_disc(box, spec.background, t if is_t else d)
    if spec.name.startswith("intersection"):
        pairs = {"cross": ("cross", "non_cross"), "non_cross": ("non_cross", "cross"), "Ts": ("T", "L"),
                 "Ls": ("L", "T")}
        t, d = pairs[task]
        return lambda is_t, i, rng, used: _strokes(box, t if is_t else d, int(rng.integers(4)), s)
    # orientation: cv2 angles; the "t20" target is tilted 20° clockwise
    target_angle = 0 if task.endswith("t0") else -20
    other = -20 if target_angle == 0 else 0
    bar = lambda angle: np.where(_bar(box, 60 * s, 9 * s, angle), 0, 255)  # noqa: E731
    if spec.name == "orientation_homo":
        return lambda is_t, i, rng, used: bar(target_angle if is_t else other)

    def hetero(is_t: bool, i: int, rng: np.random.Generator, used: list) -> np.ndarray:
        if is_t:
            return bar(target_angle)
        pool = [a for a in (*HETERO_ANGLES, other) if a not in used] or [*HETERO_ANGLES, other]
        angle = int(rng.choice(pool))  # without repeats while possible
        used.append(angle)
        return bar(angle)
    return hetero


# ---------------------------------------------------------------- trials

@dataclass
class Trial:
    """One search display; ``cells`` are all the grid-cell masks of the experiment (n_cells × H × W)."""

    task: str
    set_size: int
    display: np.ndarray  # uint8 H × W × 3
    target: np.ndarray  # uint8 box × box × 3, the target item as drawn
    target_cell: int
    item_cells: list[int]


def cell_masks(g: Geometry) -> np.ndarray:
    """All grid cells as boolean masks (row-major), n_cells × H × W."""
    masks = np.zeros((g.grid * g.grid, g.display, g.display), bool)
    for k in range(g.grid * g.grid):
        r, c = divmod(k, g.grid)
        y0, x0 = g.offset + r * g.cell, g.offset + c * g.cell
        masks[k, y0:y0 + g.cell, x0:x0 + g.cell] = True
    return masks


def make_trial(spec: ExperimentSpec, task: str, set_size: int, g: Geometry, rng: np.random.Generator) -> Trial:
    paint = _item_painter(spec, task, g)
    display = np.full((g.display, g.display), spec.background, np.uint8)
    cells = rng.choice(g.grid * g.grid, size=set_size, replace=False)
    target_slot = int(rng.integers(set_size))
    used: list[int] = []
    target = None
    for i, cell in enumerate(cells):
        item = paint(i == target_slot, i, rng, used).astype(np.uint8)
        r, c = divmod(int(cell), g.grid)
        y0 = g.offset + r * g.cell + int(rng.integers(g.jitter))
        x0 = g.offset + c * g.cell + int(rng.integers(g.jitter))
        display[y0:y0 + g.box, x0:x0 + g.box] = item
        if i == target_slot:
            target = item
    rgb = lambda a: np.repeat(a[..., None], 3, axis=-1)  # noqa: E731
    return Trial(task, set_size, rgb(display), rgb(target), int(cells[target_slot]), sorted(int(c) for c in cells))


def generate_experiment(experiment: str, out_dir: str | os.PathLike, *, scale: float,
                        trials_per_set_size: int | None, seed: int) -> pd.DataFrame:
    """Write one experiment's displays into ``out_dir`` (atomically) and return its trial table.

    ``out_dir`` gets ``trials.tsv`` (one row per trial and task), ``displays/*.png``, ``targets/*.png``,
    ``cells.npz`` (``cells``: every grid cell's mask, n_cells × H × W) and ``experiment.json`` (geometry,
    background, DoG sizes, max fixations).
    """
    spec = experiment_spec(experiment)
    g = geometry(spec, scale)
    per = spec.trials_per_set_size if trials_per_set_size is None else int(trials_per_set_size)
    if per < 1:
        raise ValueError(f"trials_per_set_size must be ≥ 1, not {per}.")
    rows = []
    with atomic_dir(out_dir) as tmp:
        (tmp / "displays").mkdir()
        (tmp / "targets").mkdir()
        for task in spec.tasks:
            rng = make_rng(seed, "visual_search", "stimuli", experiment, task)
            for si, set_size in enumerate(spec.set_sizes):
                for n in range(per):
                    trial = make_trial(spec, task, set_size, g, rng)
                    index = si * per + n
                    display, target = f"displays/{task}_{index:04d}.png", f"targets/{task}_{index:04d}.png"
                    Image.fromarray(trial.display).save(tmp / display)
                    Image.fromarray(trial.target).save(tmp / target)
                    rows.append({"trial": index, "experiment": experiment, "task": task, "set_size": set_size,
                                 "target_cell": trial.target_cell,
                                 "item_cells": " ".join(map(str, trial.item_cells)),
                                 "display": display, "target": target})
        np.savez_compressed(tmp / "cells.npz", cells=cell_masks(g))
        table = pd.DataFrame(rows)
        write_tsv(table, tmp / "trials.tsv")
        write_json({"experiment": experiment, "spec": asdict(spec), "geometry": asdict(g), "deg2px": g.deg2px,
                    "background": spec.background, "dog": spec.dog, "max_fixations": g.grid * g.grid + 1,
                    "seed": seed}, tmp / "experiment.json")
    return table


# ---------------------------------------------------------------- reading back, with checks

@dataclass
class StimulusSet:
    """An experiment folder written by :func:`generate_experiment`."""

    folder: Path
    trials: pd.DataFrame
    cells: np.ndarray
    info: dict

    def load(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """The (display, target) uint8 RGB images of one trial row, checked."""
        display = np.asarray(Image.open(self.folder / row["display"]).convert("RGB"))
        target = np.asarray(Image.open(self.folder / row["target"]).convert("RGB"))
        where = f"trial {row['task']} {row['trial']} of {self.folder / 'trials.tsv'} ({row['display']})"
        if display.shape[:2] != self.cells.shape[1:]:
            raise ValueError(f"{where}: display is {display.shape[:2]} but cells.npz masks are "
                             f"{self.cells.shape[1:]}; regenerate the stimuli folder (generate_stimuli).")
        if target.shape[0] > display.shape[0] or target.shape[1] > display.shape[1]:
            raise ValueError(f"{where}: the target image {row['target']} ({target.shape[0]}×{target.shape[1]}) is "
                             f"larger than the display ({display.shape[0]}×{display.shape[1]}); a target must be a "
                             f"crop of the display. Regenerate the stimuli folder.")
        cell = int(row["target_cell"])
        if not 0 <= cell < len(self.cells) or not self.cells[cell].any():
            raise ValueError(f"{where}: the target cell mask {cell} is empty or missing in cells.npz, so the target "
                             f"is not in the display; regenerate the stimuli folder.")
        if np.all(display[self.cells[cell]] == self.info["background"]):
            raise ValueError(f"{where}: the target is not in the display (its cell {cell} holds only background); "
                             f"regenerate the stimuli folder.")
        return display, target


def read_stimulus_set(folder: str | os.PathLike) -> StimulusSet:
    import json

    folder = Path(folder)
    for name in ("trials.tsv", "cells.npz", "experiment.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"Stimulus folder {folder} lacks {name}; write it with generate_stimuli.")
    info = json.loads((folder / "experiment.json").read_text())
    experiment_spec(info["experiment"])
    trials = read_tsv(folder / "trials.tsv", required=("trial", "task", "set_size", "target_cell", "display",
                                                       "target"))
    with np.load(folder / "cells.npz") as z:
        cells = z["cells"].astype(bool)
    return StimulusSet(folder, trials, cells, info)
