"""Whole-brain input of the decoders: parcel time series and one window of them per trial.

A run's BOLD is averaged within each parcel of an atlas by nilearn's ``NiftiLabelsMasker`` (strategy "mean"), the
confounds chosen by ``preprocess.confounds`` are regressed out (nilearn centres them, so each parcel keeps its mean),
and each parcel is put in percent signal change about its run mean, the unit of the betas. A trial's window is
``length`` TRs that start ``offset`` TRs after the first volume acquired at or after its onset (volume t is acquired
at ``start_time + t·TR``, fMRIPrep's slice-timing reference). With the HRF peaking 5–6 s after onset, a window from
the onset lasting 10–12 s holds the response (WAVE's windows; rapid designs mix neighbouring trials into it).

The atlas is a 3-D label image (0 = background) on the BOLD's grid; its networks come from a TSV with one row per
parcel, columns ``index`` (the label value, BIDS ``dseg.tsv`` style) and ``network`` (e.g. Schaefer parcels with
their Yeo-7 networks).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.maskers import NiftiLabelsMasker

from cortexplorer.preprocess.bids_input import read_bids_tsv


class DecodingInputError(ValueError):
    """The decoding stage's input (atlas, network labels, windows, test split) cannot be used as it is."""


@dataclass(frozen=True)
class Atlas:
    """A parcellation with a network for each parcel, both read from local files."""

    image: nib.Nifti1Image
    labels: np.ndarray  # P label values, ascending (0, the background, excluded)
    networks: np.ndarray  # P network names
    path: str

    @property
    def network_names(self) -> list[str]:
        """The networks in the order they first appear among the parcels."""
        return list(dict.fromkeys(self.networks.tolist()))

    def parcels_of(self, network: str) -> np.ndarray:
        """The column indices (0..P−1) of ``network``'s parcels."""
        if network not in self.network_names:
            raise DecodingInputError(f"The atlas '{self.path}' has no network '{network}'; its networks are "
                                     f"{self.network_names}.")
        return np.flatnonzero(self.networks == network)


def read_atlas(atlas: str | os.PathLike, networks: str | os.PathLike) -> Atlas:
    """The atlas image at ``atlas`` and its ``networks`` table (``index``, ``network``), checked against each other."""
    img = nib.load(atlas)
    if len(img.shape) != 3:
        raise DecodingInputError(f"The atlas '{atlas}' has shape {img.shape}; it must be one 3-D label image (a "
                                 "probabilistic atlas such as DiFuMo needs its maximum-probability labels first).")
    values = np.asarray(img.dataobj)
    if not np.allclose(values, np.round(values)):
        raise DecodingInputError(f"The atlas '{atlas}' holds non-integer values; it must be a label image.")
    present = np.unique(values.astype(np.int64))
    present = present[present != 0]
    table = read_bids_tsv(Path(networks), "network labels", dtype=str)
    missing_cols = {"index", "network"} - set(table.columns)
    if missing_cols:
        raise DecodingInputError(f"The network labels '{networks}' lack the column(s) {sorted(missing_cols)}; they "
                                 "need one row per parcel with 'index' (the atlas label value) and 'network'.")
    index = pd.to_numeric(table["index"], errors="coerce")
    if index.isna().any() or not np.allclose(index, np.round(index)):
        raise DecodingInputError(f"The network labels '{networks}': 'index' must hold the atlas' integer label values.")
    index = index.astype(np.int64).to_numpy()
    if len(set(index)) != len(index):
        dup = sorted({int(i) for i in index if (index == i).sum() > 1})
        raise DecodingInputError(f"The network labels '{networks}' list the parcel(s) {dup[:10]} more than once.")
    lacking = sorted(set(index.tolist()) - set(present.tolist()))
    if lacking:
        raise DecodingInputError(
            f"The network labels '{networks}' name {len(lacking)} parcel(s) that the atlas '{atlas}' lacks: "
            f"{lacking[:10]}. The labels belong to another atlas (or another resolution of it); use the table "
            "that came with this atlas.")
    unlabelled = sorted(set(present.tolist()) - set(index.tolist()))
    if unlabelled:
        raise DecodingInputError(
            f"The atlas '{atlas}' has {len(unlabelled)} parcel(s) with no row in '{networks}': {unlabelled[:10]}. "
            "Give every parcel a network (write 'n/a' for parcels in none).")
    network = dict(zip(index.tolist(), table["network"].fillna("n/a").astype(str), strict=True))
    return Atlas(img, present, np.array([network[int(v)] for v in present]), str(atlas))


def parcel_timeseries(bold: nib.Nifti1Image, atlas: Atlas, confounds: np.ndarray | None = None) -> np.ndarray:
    """T × P parcel means of ``bold`` with ``confounds`` (T × k) regressed out, in % signal change of the run mean.

    A parcel that is empty on this grid or has a non-positive mean is an error (a mask or atlas problem)."""
    masker = NiftiLabelsMasker(labels_img=atlas.image, strategy="mean", standardize=False, detrend=False,
                               keep_masked_labels=False)
    with warnings.catch_warnings():  # nilearn announces changes of its defaults, which are all set here
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        series = masker.fit_transform(bold, confounds=confounds)
    found = np.array(sorted(k for k in masker.region_ids_.values() if k != 0) if isinstance(masker.region_ids_, dict)
                     else [], dtype=np.int64)
    if found.size and not np.array_equal(found, atlas.labels):
        raise DecodingInputError(f"The atlas '{atlas.path}' gave {found.size} parcels on this BOLD, expected "
                                 f"{atlas.labels.size}.")
    mean = series.mean(0)
    if np.any(mean <= 0):
        bad = atlas.labels[mean <= 0][:10].tolist()
        raise DecodingInputError(f"The parcel(s) {bad} of '{atlas.path}' have a non-positive mean BOLD; they lie "
                                 "outside the brain. Use an atlas in the BOLD's space (and brain mask).")
    return (100.0 * (series - mean) / mean).astype(np.float32)


def window_starts(onsets: Sequence[float], *, tr: float, start_time: float, offset: int) -> np.ndarray:
    """The first volume of each trial's window: ``offset`` TRs after the first volume at or after its onset."""
    onsets = np.asarray(onsets, dtype=float)
    return np.ceil((onsets - start_time) / tr - 1e-6).astype(int) + offset


def trial_windows(series: np.ndarray, onsets: Sequence[float], *, tr: float, start_time: float, offset: int,
                  length: int, run: str | os.PathLike) -> np.ndarray:
    """n_trials × ``length`` × P windows of ``series`` (T × P), one per onset; ``run`` names the run in errors."""
    if length < 1:
        raise DecodingInputError(f"decoding.window.length must be at least 1 TR, not {length}.")
    starts = window_starts(onsets, tr=tr, start_time=start_time, offset=offset)
    n_volumes = len(series)
    late = np.flatnonzero(starts + length > n_volumes)
    early = np.flatnonzero(starts < 0)
    if late.size:
        raise DecodingInputError(
            f"{late.size} trial window(s) of '{Path(run).name}' run past its end: the trial at onset "
            f"{float(np.asarray(onsets)[late[0]]):g} s needs volumes up to {int(starts[late[0]] + length)} but the run "
            f"has {n_volumes}. Shorten decoding.window.length ({length} TRs) or .offset ({offset}), or drop trials "
            "this close to the end of a run from the events.")
    if early.size:
        raise DecodingInputError(f"{early.size} trial window(s) of '{Path(run).name}' start before its first volume; "
                                 f"decoding.window.offset ({offset}) must not be negative this close to the start.")
    return np.stack([series[s:s + length] for s in starts]).astype(np.float32)
