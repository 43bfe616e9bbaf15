"""Import the NSD stimuli a subject saw into the image-set contract."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.io
from PIL import Image
from tqdm import tqdm

from cortexplorer.io.images import ImageSet, write_image_set
from cortexplorer.provenance import write_sidecar

log = logging.getLogger(__name__)


def load_expdesign(expdesign_mat: str | os.PathLike, *keys: str) -> list[np.ndarray]:
    """Integer arrays ``keys`` of ``nsd_expdesign.mat`` (e.g. ``masterordering``, ``subjectim``), checked."""
    path = Path(expdesign_mat)
    if not path.exists():
        raise FileNotFoundError(f"NSD design file '{path}' does not exist; fetch nsddata/experiments/nsd/"
                                "nsd_expdesign.mat (rule fetch_nsd) or fix config key 'nsd.root'.")
    design = scipy.io.loadmat(path)
    out = []
    for key in keys:
        if key not in design:
            raise ValueError(f"'{path}' has no '{key}' (keys: {sorted(k for k in design if not k.startswith('__'))}); "
                             "pass NSD's nsddata/experiments/nsd/nsd_expdesign.mat.")
        arr = np.asarray(design[key], dtype=np.float64)
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"'{key}' in '{path}' holds non-integer values; is it nsd_expdesign.mat?")
        out.append(arr.astype(np.int64))
    return out


def nsd_stim_ids(nsd_ids: np.ndarray) -> np.ndarray:
    """The project's stim id of 0-based 73k ids (``nsdId``): ``nsd00042``."""
    return np.array([f"nsd{i:05d}" for i in np.asarray(nsd_ids)])


def nsd_image_ids(expdesign_mat: str | os.PathLike, subjects: Sequence[int]) -> np.ndarray:
    """0-based 73k ids (``nsdId``) of every image shown to any of ``subjects``, sorted.

    ``subjectim`` in ``nsd_expdesign.mat`` is 8×10000 and 1-based.
    """
    (subjectim,) = load_expdesign(expdesign_mat, "subjectim")
    ids = np.unique(np.concatenate([subjectim[s - 1] for s in subjects])) - 1
    return ids[ids >= 0]


def import_nsd_stimuli(
    *,
    stimuli_hdf5: str | os.PathLike,
    expdesign_mat: str | os.PathLike,
    stim_info_csv: str | os.PathLike,
    subjects: Sequence[int],
    image_size: int,
    out_h5: str | os.PathLike,
    out_tsv: str | os.PathLike,
    out_provenance: str | os.PathLike,
    batch: int = 64,
) -> None:
    """Read the subjects' images from ``imgBrick`` (73000×425×425×3), resize, and write the contract.

    ``split`` is ``test`` for the shared1000 images, ``train`` otherwise. NSD ships no category
    labels or captions in these files, so ``category`` and ``caption`` are ``n/a``.
    """
    ids = nsd_image_ids(expdesign_mat, subjects)
    info = pd.read_csv(stim_info_csv)
    for col in ("nsdId", "cocoId", "shared1000"):
        if col not in info.columns:
            raise ValueError(f"'{stim_info_csv}' lacks the column {col!r}; is it nsd_stim_info_merged.csv?")
    info = info.set_index("nsdId").reindex(ids)
    images = np.empty((len(ids), image_size, image_size, 3), dtype=np.uint8)
    with h5py.File(stimuli_hdf5, "r") as f:
        if "imgBrick" not in f:
            raise ValueError(f"'{stimuli_hdf5}' has no dataset 'imgBrick'; is it nsd_stimuli.hdf5?")
        brick = f["imgBrick"]
        for i in tqdm(range(0, len(ids), batch), desc="nsd stimuli", mininterval=10):
            block = brick[ids[i : i + batch]]  # h5py needs increasing indices: ids are sorted
            for j, img in enumerate(block):
                images[i + j] = np.asarray(Image.fromarray(img).resize((image_size, image_size), Image.BICUBIC))
    shared = info["shared1000"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    table = pd.DataFrame({
        "stim_id": nsd_stim_ids(ids), "category": pd.NA, "caption": pd.NA,
        "split": np.where(shared, "test", "train"), "nsd_id": ids, "coco_id": info["cocoId"].to_numpy(),
    })
    write_image_set(ImageSet(images, table), out_h5, out_tsv)
    log.info("imported %d NSD images (%d shared1000) at %d px", len(ids), int(shared.sum()), image_size)
    write_sidecar(out_provenance, stage="stimuli/nsd", settings={"subjects": list(subjects), "image_size": image_size},
                  seed=None, n_images=len(ids))
