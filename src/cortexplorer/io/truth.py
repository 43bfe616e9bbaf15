"""The simulator's ground truth (``truth/``, written by ``cortexplorer.simulate``) read on another stage's voxels and stimuli."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cortexplorer.io.hdf5 import open_h5, read_strings
from cortexplorer.io.tables import read_tsv


@dataclass
class TruthOnVoxels:
    responses: np.ndarray  # stimuli × V true responses (% signal change); NaN for voxels the simulator lacks
    region: np.ndarray  # V: planted region name, or "n/a"
    regions: list[str]  # the planted regions, in regions.tsv order


def match_voxels(reference_ijk: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """Row of ``reference_ijk`` holding each voxel of ``ijk`` (both V × 3), −1 where it has none."""
    where = {tuple(v): i for i, v in enumerate(np.asarray(reference_ijk).tolist())}
    return np.array([where.get(tuple(v), -1) for v in np.asarray(ijk).tolist()], dtype=int)


def truth_voxel_ijk(truth_dir: str | os.PathLike) -> np.ndarray:
    """Where each voxel of the simulator's true-response model sits (V × 3)."""
    with open_h5(Path(truth_dir) / "responses.h5", made_by="simulate") as f:
        return f["voxel_ijk"][()]


def truth_on_voxels(truth_dir: str | os.PathLike, stim_ids: np.ndarray, ijk: np.ndarray) -> TruthOnVoxels:
    """The true responses to ``stim_ids`` and the planted region of each voxel at ``ijk`` (V × 3)."""
    truth_dir = Path(truth_dir)
    with open_h5(truth_dir / "responses.h5", made_by="simulate") as f:
        true_ids = read_strings(f["stim_id"])
        resp = f["stimulus_responses"][()]
        true_ijk = f["voxel_ijk"][()]
    pos = {s: i for i, s in enumerate(true_ids)}
    missing = [s for s in np.asarray(stim_ids).astype(str) if s not in pos]
    if missing:
        raise ValueError(f"{len(missing)} stimuli (e.g. {missing[:3]}) have no true response in '{truth_dir}'; "
                         "the truth comes from another simulation: rerun the simulate rule.")
    cols = match_voxels(true_ijk, ijk)
    out = np.full((len(stim_ids), len(cols)), np.nan, dtype=np.float32)
    rows = resp[[pos[s] for s in np.asarray(stim_ids).astype(str)]]
    out[:, cols >= 0] = rows[:, cols[cols >= 0]]
    voxels = read_tsv(truth_dir / "voxels.tsv", required=["voxel", "region"])
    names = voxels["region"].fillna("n/a").astype(str).to_numpy()
    region = np.where(cols >= 0, names[np.maximum(cols, 0)], "n/a")
    regions = [str(r) for r in read_tsv(truth_dir / "regions.tsv", required=["roi"])["roi"]]
    return TruthOnVoxels(out, region, regions)


class DemoTruth:
    """The simulated subject's ground truth (the ``truth/`` folder of the demo), read on demand.

    The one object a demo stage gets instead of a path: built once in the stage's load step
    (``DemoTruth(inputs["truth"])``), ``None`` outside the demo.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if not (self.folder / "regions.tsv").is_file():
            raise FileNotFoundError(f"'{self.folder}' is not a truth folder of the simulator (no regions.tsv); "
                                    "rerun the simulate rule.")

    def __repr__(self) -> str:
        return f"DemoTruth('{self.folder}')"

    @property
    def voxel_ijk(self) -> np.ndarray:
        """Where each voxel of the true-response model sits (V × 3)."""
        return truth_voxel_ijk(self.folder)

    def on_voxels(self, stim_ids: np.ndarray, ijk: np.ndarray) -> TruthOnVoxels:
        """True responses to ``stim_ids`` and the planted region of each voxel at ``ijk``."""
        return truth_on_voxels(self.folder, stim_ids, ijk)

    def planted_table(self):
        """``regions.tsv``: one row per planted region (roi, category, …)."""
        return read_tsv(self.folder / "regions.tsv", required=["roi", "category"])

    def planted_mask_path(self, roi: str) -> Path:
        return self.folder / "regions" / f"{roi}.nii.gz"

    @property
    def response_model_path(self) -> Path:
        """The true response model (``cortexplorer.simulate.response.TrueResponseModel``)."""
        return self.folder / "model.h5"
