"""Read fMRIPrep-style derivatives by BIDS entities: BOLD, brain mask, events, confounds, timing.

Files are found with pybids (subject, session, task, run, space, desc), never by fixed names.
What is checked, and what is done about it (each case names the file and the fix):

- BOLD that is not 4-D, or runs on different grids: error.
- ``RepetitionTime`` in the sidecar disagreeing with the NIfTI header: error (units honoured).
- Slice timing: volume ``n`` is taken to sample time ``n·TR + StartTime`` (fMRIPrep writes
  ``StartTime`` when it slice-time corrects); without ``StartTime`` the start of each volume is
  used and a warning is logged, as nilearn's ``first_level_from_bids`` does.
- Events: ``onset``/``duration`` required and numeric; rows whose ``stim_id`` is ``n/a`` (fixation,
  responses) are dropped and counted in the log; an event starting after the run ends is an
  error; a ``stim_id`` with no image in the stimulus table is an error.
- Confounds: selected by the configured strategy; a table with a different number of rows than
  the run has volumes is an error; ``n/a`` (fMRIPrep's first row of derivatives, FD, DVARS) is
  replaced by 0 and logged; the number of ``cosineXX`` columns may differ between runs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
TR_TOLERANCE_S = 1e-3


class BidsInputError(ValueError):
    """A BIDS input file is unusable; the message names the file, the problem and the fix."""


@dataclass
class BoldRun:
    """One preprocessed run and its companions, with timing from the sidecars."""

    subject: str
    session: str | None
    task: str
    run: int | None
    bold: Path
    events: Path
    confounds: Path
    mask: Path | None
    tr: float
    start_time: float

    @property
    def label(self) -> str:
        parts = [f"sub-{self.subject}", f"ses-{self.session}" if self.session else "", f"task-{self.task}",
                 f"run-{self.run:02d}" if self.run is not None else ""]
        return "_".join(p for p in parts if p)


def _one(files: list, what: str, entities: Mapping, root: Path) -> Path | None:
    if len(files) > 1:
        raise BidsInputError(f"Found {len(files)} {what} files for {dict(entities)} under '{root}': "
                             f"{[Path(f.path).name for f in files]}. Keep one, or add the entity that tells them apart.")
    return Path(files[0].path) if files else None


def find_runs(bids_root: str | os.PathLike, *, subject: str, task: str, space: str | None) -> list[BoldRun]:
    """Every preprocessed run of ``task`` for ``subject`` in ``space``, ordered by session and run."""
    from bids import BIDSLayout  # imported here: pybids is slow to import and only this reader needs it

    root = Path(bids_root)
    if not (root / "dataset_description.json").exists():
        raise BidsInputError(f"'{root}' is not a BIDS dataset (no dataset_description.json). Point the config key "
                             "'bids.root' at the folder that holds sub-*/ and derivatives/.")
    layout = BIDSLayout(root, derivatives=True, validate=False)
    query = dict(subject=subject, task=task, desc="preproc", suffix="bold", extension=[".nii.gz", ".nii"])
    if space:
        query["space"] = space
    bolds = layout.get(scope="derivatives", **query)
    if not bolds:
        raise BidsInputError(
            f"No preprocessed BOLD (desc-preproc_bold) for sub-{subject}, task-{task}"
            f"{', space-' + space if space else ''} under '{root}/derivatives'. Available tasks: {layout.get_tasks()}, "
            f"spaces: {layout.get_spaces()}. Check preprocess.task / preprocess.space, or run fMRIPrep with that space.")
    if not space:
        spaces = sorted({f.get_entities().get("space") for f in bolds} - {None})
        if len(spaces) > 1:
            raise BidsInputError(f"sub-{subject} task-{task} has preprocessed BOLD in {len(spaces)} spaces {spaces} "
                                 f"under '{root}/derivatives'; set preprocess.space to one of them.")
    runs = []
    for f in bolds:
        ent = {k: v for k, v in f.get_entities().items() if k in ("subject", "session", "task", "run")}
        events = _one(layout.get(scope="raw", suffix="events", extension=".tsv", **ent), "events", ent, root)
        if events is None:
            events = _one(layout.get(suffix="events", extension=".tsv", **ent), "events", ent, root)
        if events is None:
            raise BidsInputError(f"No events file for {Path(f.path).name} (looked for *_events.tsv with {ent}). "
                                 "Add the run's events.tsv to the raw dataset.")
        confounds = _one(layout.get(scope="derivatives", desc="confounds", suffix=["timeseries", "regressors"],
                                    extension=".tsv", **ent), "confounds", ent, root)
        if confounds is None:
            raise BidsInputError(f"No confounds table for {Path(f.path).name} (desc-confounds_timeseries.tsv). "
                                 "fMRIPrep writes one per run; copy it next to the BOLD file.")
        mask_query = dict(scope="derivatives", desc="brain", suffix="mask", extension=[".nii.gz", ".nii"], **ent)
        if space:
            mask_query["space"] = space
        mask = _one(layout.get(**mask_query), "brain mask", ent, root)
        meta = layout.get_metadata(f.path)
        tr = meta.get("RepetitionTime")
        if tr is None:
            raise BidsInputError(f"'{f.path}' has no RepetitionTime in its JSON sidecar; add it (seconds).")
        start = meta.get("StartTime")
        if start is None:
            log.warning("%s: no StartTime in the sidecar; taking volume n at n·TR (no slice-timing shift)",
                        Path(f.path).name)
            start = 0.0
        run = ent.get("run")
        runs.append(BoldRun(subject=subject, session=ent.get("session"), task=task,
                            run=int(run) if run is not None else None, bold=Path(f.path), events=events,
                            confounds=confounds, mask=mask, tr=float(tr), start_time=float(start)))
    runs.sort(key=lambda r: (natural_key(r.session or ""), r.run if r.run is not None else -1))
    return runs


def natural_key(label: str) -> tuple:
    """Sort key that puts ses-2 before ses-10 (numbers compare as numbers)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", label))


def header_tr(img: nib.Nifti1Image) -> float:
    """The volume spacing in seconds from the NIfTI header (``xyzt_units`` honoured)."""
    tr = float(img.header.get_zooms()[3])
    unit = img.header.get_xyzt_units()[1]
    return tr / 1000.0 if unit == "msec" else tr / 1e6 if unit == "usec" else tr


def load_bold(run: BoldRun) -> nib.Nifti1Image:
    """The run's BOLD image after checking that it is 4-D and that its TR matches the sidecar."""
    img = nib.load(run.bold)
    if img.ndim != 4:
        raise BidsInputError(f"'{run.bold}' is {img.ndim}-D (shape {img.shape}); a BOLD run must be 4-D "
                             "(x, y, z, time). Pass the preprocessed time series, not a reference or mean image.")
    tr = header_tr(img)
    if abs(tr - run.tr) > TR_TOLERANCE_S:
        raise BidsInputError(
            f"'{run.bold}': RepetitionTime in the JSON sidecar is {run.tr} s but the NIfTI header says {tr} s. "
            "Fix whichever is wrong (the sidecar is what BIDS tools trust; nibabel's header.set_zooms sets the header).")
    return img


def load_mask(paths: Iterable[Path | None], reference: nib.Nifti1Image) -> np.ndarray:
    """The intersection of the runs' brain masks (all voxels where none is given)."""
    mask = np.ones(reference.shape[:3], bool)
    for p in paths:
        if p is None:
            continue
        m = nib.load(p)
        if m.shape[:3] != reference.shape[:3] or not np.allclose(m.affine, reference.affine, atol=1e-3):
            raise BidsInputError(f"Brain mask '{p}' is on a different grid ({m.shape}) from the BOLD "
                                 f"({reference.shape[:3]}). Use the mask of the same space and resolution.")
        mask &= np.asanyarray(m.dataobj) > 0
    return mask


def load_events(run: BoldRun, n_volumes: int, known_stim_ids: set[str] | None = None,
                stim_column: str = "stim_id") -> pd.DataFrame:
    """The run's trials (``onset``, ``duration``, ``stim_id``, and any other columns), checked.

    ``stim_column="trial_type"`` reads a block localizer, whose events need no image id.
    """
    ev = pd.read_csv(run.events, sep="\t", na_values=["n/a"], keep_default_na=False,
                     dtype={stim_column: str, "trial_type": str})
    missing = [c for c in ("onset", "duration") if c not in ev.columns]
    if missing:
        raise BidsInputError(f"'{run.events}' lacks the required column(s) {missing}; BIDS events need onset and "
                             "duration (seconds).")
    if stim_column not in ev.columns:
        what = ("the category of each block or image" if stim_column == "trial_type"
                else "each trial's image (n/a for events that show no image)")
        raise BidsInputError(f"'{run.events}' has no '{stim_column}' column naming {what}. Add it.")
    for col in ("onset", "duration"):
        values = pd.to_numeric(ev[col], errors="coerce")
        bad = values.isna() & ev[stim_column].notna()
        if bad.any():
            raise BidsInputError(f"'{run.events}': {col} is missing or not a number in row(s) "
                                 f"{list(np.flatnonzero(bad)[:5] + 1)}; every trial needs a numeric {col}.")
        ev[col] = values
    dropped = ev[stim_column].isna()
    if dropped.any():
        kinds = ev.loc[dropped, "trial_type"].fillna("n/a").value_counts().to_dict() if "trial_type" in ev else {}
        log.warning("%s: %d event(s) with %s n/a are not modelled%s", run.events.name, int(dropped.sum()),
                    stim_column, f" (trial_type counts {kinds})" if kinds else "")
    ev = ev[ev[stim_column].notna()].reset_index(drop=True)
    end = n_volumes * run.tr
    late = ev["onset"] >= end
    if late.any():
        raise BidsInputError(
            f"'{run.events}': {int(late.sum())} event(s) start at or after the end of the run "
            f"(first at {ev.loc[late, 'onset'].iloc[0]} s; the run has {n_volumes} volumes × {run.tr} s = {end} s). "
            "The events belong to a longer run, or volumes were cut: fix the onsets or the BOLD file.")
    if (ev["duration"] < 0).any():
        raise BidsInputError(f"'{run.events}' has negative durations; durations are seconds ≥ 0.")
    if known_stim_ids is not None:
        unknown = sorted(set(ev[stim_column]) - known_stim_ids)
        if unknown:
            raise BidsInputError(
                f"'{run.events}' names {len(unknown)} stim_id(s) with no image in the stimulus table, e.g. "
                f"{unknown[:5]}. Add the images to the stimulus folder (bids.stimuli_dir) or fix the stim_id values.")
    return ev.rename(columns={stim_column: "stim_id"}) if stim_column != "trial_type" else ev


def _columns_like(columns: Iterable[str], pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return sorted((c for c in columns if rx.fullmatch(c)), key=lambda c: (len(c), c))


def confound_columns(available: Iterable[str], *, motion: int, drift: str, compcor: int,
                     columns: Iterable[str] = ()) -> list[str]:
    """Columns of an fMRIPrep confounds table named by a strategy (motion 0/6/12/24, cosine drift,
    the first ``compcor`` aCompCor components, extra ``columns``)."""
    available = list(available)
    chosen: list[str] = []
    if motion not in (0, 6, 12, 24):
        raise ValueError(f"motion must be 0, 6, 12 or 24 parameters, not {motion}.")
    suffixes = {0: (), 6: ("",), 12: ("", "_derivative1"), 24: ("", "_derivative1", "_power2", "_derivative1_power2")}
    chosen += [f"{m}{s}" for s in suffixes[motion] for m in MOTION]
    if drift == "cosine":
        cosines = _columns_like(available, r"cosine_?\d+")
        if not cosines:
            raise ValueError("drift 'cosine' needs fMRIPrep's cosineXX columns and the table has none; use "
                             "preprocess.confounds.drift: polynomial.")
        chosen += cosines
    if compcor:
        acomp = _columns_like(available, r"a_comp_cor_\d+")
        chosen += acomp[:compcor]
        if len(acomp) < compcor:
            raise ValueError(f"compcor asks for {compcor} a_comp_cor columns but the table has {len(acomp)}. "
                             "Lower preprocess.confounds.compcor, or regenerate the confounds with more components.")
    chosen += list(columns)
    return chosen


def load_confounds(run: BoldRun, n_volumes: int, strategy: Mapping) -> pd.DataFrame:
    """The strategy's confound columns for ``run`` (T × k), with ``n/a`` replaced by 0."""
    table = pd.read_csv(run.confounds, sep="\t", na_values=["n/a"], keep_default_na=False)
    if len(table) != n_volumes:
        raise BidsInputError(f"'{run.confounds}' has {len(table)} rows but '{run.bold.name}' has {n_volumes} volumes. "
                             "The confounds must come from the same fMRIPrep run (one row per volume).")
    try:
        cols = confound_columns(table.columns, motion=strategy["motion"], drift=strategy["drift"],
                                compcor=strategy["compcor"], columns=strategy.get("columns", ()))
    except ValueError as err:
        raise BidsInputError(f"'{run.confounds}': {err}") from None
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise BidsInputError(f"'{run.confounds}' lacks the confound column(s) {missing} that preprocess.confounds "
                             f"asks for. It has {len(table.columns)} columns, e.g. {list(table.columns)[:8]}. "
                             "Change the strategy or regenerate the confounds with fMRIPrep.")
    out = table[cols].apply(pd.to_numeric, errors="coerce")
    n_nan = int(out.isna().to_numpy().sum())
    if n_nan:
        later = int(out.iloc[1:].isna().to_numpy().sum())
        (log.warning if later else log.info)(
            "%s: %d n/a value(s) in the chosen confounds replaced by 0 (%d after the first row)",
            run.confounds.name, n_nan, later)
    return out.fillna(0.0)


def polynomial_drift(n_volumes: int, degree: int) -> np.ndarray:
    """Legendre polynomials of degree 0..``degree`` over the run (T × degree+1), GLMsingle's drift model."""
    x = np.linspace(-1, 1, n_volumes)
    return np.polynomial.legendre.legvander(x, degree)


def auto_polynomial_degree(n_volumes: int, tr: float) -> int:
    """GLMsingle's default: round(run length in minutes / 2)."""
    return round(n_volumes * tr / 60.0 / 2.0)
