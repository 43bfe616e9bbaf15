"""Read fMRIPrep-style derivatives by BIDS entities: BOLD, brain mask, events, confounds, timing.

Files are found with pybids (subject, session, task, run, space, res, desc), never by fixed names.
The dataset is indexed once per state (:func:`layout_index`): each job loads the pybids database the
first job built, and a changed dataset (a file added, removed or renamed, a JSON sidecar edited)
is indexed again. What is checked, and what is done about it (each case names the file and the fix):

- Finding files: a subject with no files is an error listing the subjects present (``bids.participant_label``);
  several BOLD files (or masks) for one run are an error naming the entity that tells them apart
  and the key that picks one (``preprocess.space``, ``preprocess.res``).
- NIfTI files (BOLD, masks) that cannot be read to the end (a ``.nii.gz`` cut short by a copy):
  error, "truncated or damaged".
- BOLD that is not 4-D, or runs on different grids: error.
- Brain masks: one with no brain voxel, masks whose intersection is empty, or a mask on another
  grid than the BOLD (the message says whether the shape or the affine differs, and shows both):
  error.
- BOLD volumes that are all NaN or zero inside the brain mask: error naming the volume (0-based).
  Voxels NaN, non-positive or constant in any run are left out and counted in the log; when that
  leaves no voxel, error naming the runs.
- ``RepetitionTime`` in the sidecar disagreeing with the NIfTI header: error (units honoured).
- Slice timing: volume ``n`` is taken to sample time ``n·TR + StartTime`` (fMRIPrep writes
  ``StartTime`` when it slice-time corrects); without ``StartTime`` the start of each volume is
  used and a warning is logged, as nilearn's ``first_level_from_bids`` does.
- Tables (events, confounds) that are comma- or semicolon-separated instead of tab-separated:
  error saying how to convert them.
- Events: ``onset``/``duration`` required and numeric (each trial's own duration is modelled); each
  trial's image named by the BIDS ``stim_file`` column (its path relative to the stimulus folder) or,
  without one, a ``stim_id`` column (its file stem); rows whose image is ``n/a`` (fixation,
  responses) are dropped and counted in the log; an event starting before the run (negative
  onset) or after it ends is an error; two trials at the same onset (their single-trial
  regressors would be identical) are an error; a ``stim_id`` with no image in the stimulus table
  is an error.
- Confounds: selected by the configured strategy; a table with a different number of rows than
  the run has volumes is an error; a chosen column that is ``n/a`` in every row is an error naming
  the ``preprocess.confounds`` key that chose it; other ``n/a`` (fMRIPrep's first row of
  derivatives, FD, DVARS) are replaced by 0 and logged; the number of ``cosineXX`` columns may
  differ between runs.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError

from cortexplorer.io.bids import natural_key
from cortexplorer.io.tables import read_json
from cortexplorer.stimuli.folder import stim_id_of_file

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


# The config key that picks one value of an entity, where there is one.
ENTITY_KEYS = {"space": "preprocess.space", "res": "preprocess.res"}


def _tell_apart(files: list, root: Path) -> str:
    """What tells ``files`` (pybids files of one run) apart, and how to keep one."""
    ents = [f.get_entities() for f in files]
    differ = {k: sorted({str(e.get(k, "(none)")) for e in ents}) for k in sorted(set().union(*ents))
              if len({str(e.get(k)) for e in ents}) > 1}
    if set(differ) <= {"extension"}:
        return "They differ only in extension (.nii and .nii.gz); keep one."
    advice = []
    for k, values in differ.items():
        if k == "extension":
            continue
        if k in ENTITY_KEYS:
            advice.append(f"they differ in {k} {values}: set {ENTITY_KEYS[k]} to one of them")
        else:
            advice.append(f"they differ in the BIDS entity '{k}' {values}, which cortexplorer does not select by: "
                          f"keep the files of one {k} under '{root}' and move the others out")
    text = "; ".join(advice)
    return text[0].upper() + text[1:] + "."


def _one(files: list, what: str, entities: Mapping, root: Path) -> Path | None:
    if len(files) > 1:
        raise BidsInputError(f"Found {len(files)} {what} files for {dict(entities)} under '{root}': "
                             f"{[Path(f.path).name for f in files]}. {_tell_apart(files, root)}")
    return Path(files[0].path) if files else None


def find_runs(bids_root: str | os.PathLike, *, subject: str, task: str, space: str | None,
              res: str | None = None, sessions: Iterable[str] | None = None,
              index_dir: str | os.PathLike | None = None) -> list[BoldRun]:
    """Every preprocessed run of ``task`` for ``subject`` in ``space`` (and resolution ``res``, where
    fMRIPrep wrote several), ordered by session and run; only ``sessions``' runs when given. ``bids_root``:
    the dataset's folder or its ``dataset_description.json``. ``index_dir``: where the dataset's pybids
    index is kept and reused (:func:`layout_index`; None: index in memory, for this call only)."""
    root = Path(bids_root)
    if root.name == "dataset_description.json":  # the workflow passes the dataset by its description file
        root = root.parent
    if not (root / "dataset_description.json").exists():
        raise BidsInputError(f"'{root}' is not a BIDS dataset (no dataset_description.json). Point the config key "
                             "'bids.root' at the folder that holds sub-*/ and derivatives/.")
    layout = _layout(root) if index_dir is None else layout_index(root, index_dir)
    subjects = sorted(layout.get_subjects(), key=natural_key)
    if subject not in subjects:
        raise BidsInputError(f"sub-{subject} has no folder or files under '{root}' (nor its derivatives). Subjects "
                             f"present: {subjects}. Set bids.participant_label to some of them.")
    query = dict(subject=subject, task=task, desc="preproc", suffix="bold", extension=[".nii.gz", ".nii"])
    sessions = sorted(sessions or [], key=natural_key)
    if sessions:
        query["session"] = sessions
    if space:
        query["space"] = space
    if res:
        query["res"] = res
    bolds = layout.get(scope="derivatives", **query)
    if not bolds:
        if subject not in layout.get_subjects(scope="derivatives"):
            raise BidsInputError(f"sub-{subject} has raw data under '{root}' but no preprocessed files in "
                                 f"'{root}/derivatives'. Run fMRIPrep for sub-{subject} and put its output there.")
        raise BidsInputError(
            f"No preprocessed BOLD (desc-preproc_bold) for sub-{subject}, task-{task}"
            f"{', session(s) ' + str(sessions) if sessions else ''}{', space-' + space if space else ''}{', res-' + res if res else ''} under '{root}/derivatives'. "
            f"Available tasks: {layout.get_tasks()}, spaces: {layout.get_spaces()}"
            f"{', res: ' + str(layout.get_res()) if res else ''}. Check preprocess.task / preprocess.space"
            f"{' / preprocess.res' if res else ''}, or run fMRIPrep with that space.")
    if not space:
        spaces = sorted({f.get_entities().get("space") for f in bolds} - {None})
        if len(spaces) > 1:
            raise BidsInputError(f"sub-{subject} task-{task} has preprocessed BOLD in {len(spaces)} spaces {spaces} "
                                 f"under '{root}/derivatives'; set preprocess.space to one of them.")
    per_run: dict[tuple, list] = {}
    for f in bolds:
        e = f.get_entities()
        per_run.setdefault((e.get("session"), e.get("run")), []).append(f)
    runs = []
    for files in per_run.values():
        ent = {k: v for k, v in files[0].get_entities().items() if k in ("subject", "session", "task", "run")}
        _one(files, "preprocessed BOLD", ent, root / "derivatives")  # several for one run: names what differs
        f = files[0]
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
        # the mask of the BOLD's own space and resolution
        grid = {k: v for k, v in f.get_entities().items() if k in ("space", "res")}
        mask = _one(layout.get(scope="derivatives", desc="brain", suffix="mask", extension=[".nii.gz", ".nii"],
                               **ent, **grid), "brain mask", ent, root)
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


def _json_problem(err: Exception, context: str) -> None:
    """Re-raise pybids' "Error occurred while trying to decode JSON from file …" as an error that names the
    file with the line and column of the problem (pybids names the file only); return if it is another error."""
    named = re.search(r"filename='([^']+)'", str(err))
    if named is None:
        return
    try:
        read_json(named.group(1))
    except ValueError as bad:
        raise BidsInputError(f"{bad}{context}") from None


def _layout(root: Path, **database: Any) -> Any:
    """pybids' layout of ``root`` and its derivatives; ``database``: pybids' ``database_path`` / ``reset_database``."""
    from bids import BIDSLayout  # imported here: pybids is slow to import and only this reader needs it

    try:
        return BIDSLayout(root, derivatives=True, validate=False, **database)
    except (OSError, ValueError) as err:
        _json_problem(err, " BIDS sidecars must be valid JSON.")
        raise


# top-level folders pybids does not index (its default ignore list), left out of the dataset's state
NOT_INDEXED = ("code", "models", "sourcedata", "stimuli")
KEEP_OLD_INDEX_S = 600  # another state's index younger than this may still be read by a running job


def dataset_state(root: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) of what a pybids index of ``root`` holds: every indexed file's relative path,
    and each JSON file's size and modification time (pybids reads sidecars into the index; it does not read
    TSV or NIfTI contents). Hidden entries and the folders pybids ignores are left out. One folder walk."""
    import hashlib

    root = Path(root)
    h = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (rel == "." and d in NOT_INDEXED))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(rel, name)
            h.update(path.encode() + b"\0")
            if name.endswith(".json"):
                st = os.stat(os.path.join(folder, name))
                h.update(f"{st.st_size}:{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def layout_index(root: str | os.PathLike, index_dir: str | os.PathLike) -> Any:
    """The pybids layout of ``root`` (with its derivatives), indexed once per dataset state under
    ``index_dir/<dataset_state>/`` and loaded from there by every later job.

    The first job to need a state builds its index in a private folder and renames it into place, so jobs
    started at once on a cluster never read half an index (a job that loses the race keeps the winner's
    and deletes its own). Indexes of other states older than :data:`KEEP_OLD_INDEX_S` are deleted. Each
    call logs whether it built or loaded the index.
    """
    import shutil
    import time

    root, index_dir = Path(root), Path(index_dir)
    state = dataset_state(root)
    db = index_dir / state
    if (db / "layout_index.sqlite").is_file():
        log.info("BIDS index: loaded %s (dataset state %s)", db, state)
        return _layout(root, database_path=db)
    index_dir.mkdir(parents=True, exist_ok=True)
    private = index_dir / f".{state}.{os.getpid()}.building"
    shutil.rmtree(private, ignore_errors=True)
    start = time.perf_counter()
    try:
        _layout(root, database_path=private, reset_database=True)
    finally:  # a failed index leaves nothing behind; a built one is renamed into place below
        if not (private / "layout_index.sqlite").is_file():
            shutil.rmtree(private, ignore_errors=True)
    try:
        os.rename(private, db)
    except OSError:  # another job renamed its index into place first: use that one
        shutil.rmtree(private, ignore_errors=True)
        log.info("BIDS index: another job built %s first; loaded it", db)
    else:
        log.info("BIDS index: built %s for %s in %.1f s", db, root, time.perf_counter() - start)
    now = time.time()
    for old in index_dir.iterdir():
        if old.name != state and not old.name.startswith(".") and now - old.stat().st_mtime > KEEP_OLD_INDEX_S:
            shutil.rmtree(old, ignore_errors=True)
            log.info("BIDS index: removed %s (an earlier state of the dataset)", old)
    return _layout(root, database_path=db)  # from its final place (the private folder was renamed)


def header_tr(img: nib.Nifti1Image) -> float:
    """The volume spacing in seconds from the NIfTI header (``xyzt_units`` honoured)."""
    tr = float(img.header.get_zooms()[3])
    unit = img.header.get_xyzt_units()[1]
    return tr / 1000.0 if unit == "msec" else tr / 1e6 if unit == "usec" else tr


# What nibabel and gzip raise on a file cut short or corrupted, when opening it or reading its data.
_DAMAGED = (EOFError, OSError, ValueError, zlib.error, ImageFileError)


def _damaged(path: Path, err: Exception) -> BidsInputError:
    return BidsInputError(f"'{path}' is truncated or damaged ({type(err).__name__}: {err}); copy it again from "
                          "fMRIPrep's output.")


def open_image(path: Path) -> nib.Nifti1Image:
    """``nib.load`` (which reads only the header), with an unreadable file named."""
    try:
        return nib.load(path)
    except _DAMAGED as err:
        raise _damaged(path, err) from None


def image_data(img: nib.Nifti1Image, path: Path) -> np.ndarray:
    """The image's data array; a file cut short (nibabel finds out only now) is named."""
    try:
        return np.asanyarray(img.dataobj)
    except _DAMAGED as err:
        raise _damaged(path, err) from None


def check_same_grid(img: nib.Nifti1Image, path: Path, what: str, ref: nib.Nifti1Image, ref_path: Path,
                    ref_what: str, fix: str) -> None:
    """Error unless ``img`` has ``ref``'s shape (first three axes) and affine, saying which differs."""
    shape, ref_shape = img.shape[:3], ref.shape[:3]
    if shape != ref_shape:
        problem = f"has shape {shape} and {ref_what} '{ref_path}' has {ref_shape}"
    elif not np.allclose(img.affine, ref.affine, atol=1e-3):
        def grid(a: np.ndarray) -> str:
            return f"diagonal {np.round(np.diag(a)[:3], 4).tolist()}, translation {np.round(a[:3, 3], 4).tolist()}"
        problem = (f"has the same shape {shape} as {ref_what} '{ref_path}' but another affine (largest difference "
                   f"{np.abs(img.affine - ref.affine).max():.4g}; {what}: {grid(img.affine)}; {ref_what}: "
                   f"{grid(ref.affine)})")
    else:
        return
    raise BidsInputError(f"{what[0].upper() + what[1:]} '{path}' is not on the grid of the {ref_what}: it {problem}. "
                         f"{fix}")


def load_bold(run: BoldRun) -> nib.Nifti1Image:
    """The run's BOLD image after checking that it is 4-D and that its TR matches the sidecar."""
    img = open_image(run.bold)
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
    """The intersection of the runs' brain masks (all voxels where none is given).

    ``reference`` is a BOLD image loaded from its file (its name is quoted in the messages)."""
    mask = np.ones(reference.shape[:3], bool)
    ref_path = Path(reference.get_filename() or "the reference image")
    seen: list[str] = []
    for p in paths:
        if p is None:
            continue
        m = open_image(p)
        check_same_grid(m, p, "brain mask", reference, ref_path, "BOLD",
                        "Use the brain mask of the BOLD's space and resolution (same space-/res- entities).")
        inside = image_data(m, p) > 0
        if not inside.any():
            raise BidsInputError(f"Brain mask '{p}' has no voxel inside the brain (every value is 0 or less); it is "
                                 "damaged or not a brain mask. Copy it again from fMRIPrep's output.")
        if seen and not (mask & inside).any():
            raise BidsInputError(
                f"Brain mask '{p}' ({int(inside.sum())} voxels) has no voxel in common with the masks of the runs "
                f"before it ({seen}; {int(mask.sum())} voxels in common): the intersection of the runs' masks is "
                "empty. The masks belong to different subjects, spaces or grids; use the masks fMRIPrep wrote with "
                "these BOLD files.")
        mask &= inside
        seen.append(p.name)
    return mask


def read_bids_tsv(path: Path, what: str, **read_csv) -> pd.DataFrame:
    """A BIDS table (tab-separated, ``n/a`` for missing); a comma- or semicolon-separated file is named as such."""
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\r\n")
    for sep, name in ((",", "comma"), (";", "semicolon")):
        if sep in header and "\t" not in header:
            raise BidsInputError(
                f"'{path}' is {name}-separated (header {header[:80]!r}); BIDS {what} files are tab-separated (TSV). "
                f"Convert it, e.g. python -c \"import pandas as pd; pd.read_csv('{path}', sep='{sep}', dtype=str, "
                f"keep_default_na=False).to_csv('{path}', sep='\\t', index=False)\"")
    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, **read_csv)
    mixed = [c for c in table.columns if "," in str(c)]
    if mixed:
        raise BidsInputError(f"'{path}' has commas inside its column names {mixed[:3]}: part of the header is "
                             f"comma-separated. BIDS {what} files are tab-separated (TSV); put tabs between all "
                             "columns.")
    return table


def _rows(index: Iterable[int]) -> list[int]:
    """Row numbers as a user counts them in the file: 1 = the first line after the header."""
    return [int(i) + 1 for i in index]


def load_events(run: BoldRun, n_volumes: int, known_stim_ids: set[str] | None = None,
                stim_column: str = "stim_id") -> pd.DataFrame:
    """The run's trials (``onset``, ``duration``, ``stim_id``, and any other columns), checked.

    Each trial's image is named by the BIDS ``stim_file`` column (a path relative to the stimulus
    folder, e.g. ``animals/cat01.jpg``) or, without one, by a ``stim_id`` column (the file's stem);
    ``n/a`` marks events that show no image, which are not modelled. ``stim_column="trial_type"``
    reads a block localizer, whose events need no image id (and whose blocks of different
    categories may share an onset). Row numbers in the messages count from 1 at the first line
    after the header.
    """
    ev = read_bids_tsv(run.events, "events", dtype={stim_column: str, "trial_type": str, "stim_file": str})
    missing = [c for c in ("onset", "duration") if c not in ev.columns]
    if missing:
        raise BidsInputError(f"'{run.events}' lacks the required column(s) {missing}; BIDS events need onset and "
                             "duration (seconds).")
    by_file = stim_column == "stim_id" and "stim_file" in ev.columns
    if by_file:
        from_file = pd.Series([stim_id_of_file(v) if isinstance(v, str) else None for v in ev["stim_file"]],
                              index=ev.index, dtype=object)
        if "stim_id" in ev.columns:
            given = ev["stim_id"].astype(object).where(ev["stim_id"].notna(), None)
            differ = np.flatnonzero([a != b for a, b in zip(given, from_file, strict=True)])
            if len(differ):
                i = differ[0]
                raise BidsInputError(
                    f"'{run.events}': the stim_file and stim_id columns name different images in "
                    f"{len(differ)} row(s) {_rows(differ[:5])}; e.g. row {i + 1}: stim_file "
                    f"{ev['stim_file'].iloc[i]!r} (image {from_file.iloc[i]!r}) but stim_id {given.iloc[i]!r}. "
                    "Keep one of the columns, or make stim_id the stim_file path without its suffix (n/a in both "
                    "for events that show no image).")
            log.info("%s: each trial's image is read from the BIDS stim_file column (its stim_id column agrees)",
                     run.events.name)
        ev["stim_id"] = from_file
    if stim_column not in ev.columns:
        what = ("the category of each block or image" if stim_column == "trial_type"
                else "each trial's image (n/a for events that show no image)")
        extra = ("" if stim_column == "trial_type" else
                 "; BIDS names it in a 'stim_file' column (the image's path relative to the stimulus folder), "
                 "or give a 'stim_id' column (the image's file stem)")
        raise BidsInputError(f"'{run.events}' has no '{stim_column}' column naming {what}{extra}. Add it.")
    for col in ("onset", "duration"):
        values = pd.to_numeric(ev[col], errors="coerce")
        bad = values.isna() & ev[stim_column].notna()
        if bad.any():
            raise BidsInputError(f"'{run.events}': {col} is missing or not a number in row(s) "
                                 f"{_rows(np.flatnonzero(bad)[:5])}; every trial needs a numeric {col}.")
        ev[col] = values
    dropped = ev[stim_column].isna()
    if dropped.any():
        kinds = ev.loc[dropped, "trial_type"].fillna("n/a").value_counts().to_dict() if "trial_type" in ev else {}
        log.warning("%s: %d event(s) with %s n/a are not modelled%s", run.events.name, int(dropped.sum()),
                    "stim_file" if by_file else stim_column, f" (trial_type counts {kinds})" if kinds else "")
    ev = ev[ev[stim_column].notna()]  # the index keeps the file's row numbers for the messages below
    early = ev["onset"] < 0
    if early.any():
        raise BidsInputError(
            f"'{run.events}': {int(early.sum())} event(s) start before the run starts (negative onsets "
            f"{ev.loc[early, 'onset'].tolist()[:5]} s in row(s) {_rows(ev.index[early][:5])}). Onsets are seconds "
            "from the start of the first volume: fix them (a shift of the whole column, or rows from another run).")
    end = n_volumes * run.tr
    late = ev["onset"] >= end
    if late.any():
        raise BidsInputError(
            f"'{run.events}': {int(late.sum())} event(s) start at or after the end of the run "
            f"(first at {ev.loc[late, 'onset'].iloc[0]} s; the run has {n_volumes} volumes × {run.tr} s = {end} s). "
            "The events belong to a longer run, or volumes were cut: fix the onsets or the BOLD file.")
    if (ev["duration"] < 0).any():
        raise BidsInputError(f"'{run.events}' has negative durations; durations are seconds ≥ 0.")
    if stim_column != "trial_type":
        # two trials at one onset get identical single-trial regressors: their betas cannot be told apart
        onset_ms = ev["onset"].round(3)
        clash = ev[onset_ms.duplicated(keep=False)]
        if not clash.empty:
            groups = [f"{t} s (rows {_rows(g.index)}, {stim_column} {g[stim_column].tolist()})"
                      for t, g in clash.groupby(onset_ms[clash.index], sort=True)]
            raise BidsInputError(
                f"'{run.events}' has {len(groups)} onset(s) shared by several trials: {'; '.join(groups[:5])}. "
                "Trials at the same onset cannot be estimated apart; delete the duplicate rows or fix their onsets.")
    ev = ev.reset_index(drop=True)
    if known_stim_ids is not None:
        unknown = sorted(set(ev[stim_column]) - known_stim_ids)
        if unknown and by_file:
            files = sorted(set(ev.loc[ev["stim_id"].isin(unknown), "stim_file"]))
            raise BidsInputError(
                f"'{run.events}' names {len(files)} stim_file(s) with no image in the stimulus folder "
                f"(bids.stimuli_dir), e.g. {files[:5]}. stim_file is the image's path relative to that folder "
                "(e.g. animals/cat01.jpg, any image suffix): add the images or fix the stim_file values.")
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
    table = read_bids_tsv(run.confounds, "confounds")
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
    empty = [c for c in cols if out[c].isna().all()]
    if empty:
        keys = sorted({_strategy_key(c, strategy) for c in empty})
        raise BidsInputError(f"'{run.confounds}': the confound column(s) {empty} are n/a (or not numbers) in every "
                             f"row, so they cannot be regressed out. Change {' / '.join(keys)} so that they are not "
                             "chosen, or regenerate the confounds with fMRIPrep.")
    n_nan = int(out.isna().to_numpy().sum())
    if n_nan:
        later = int(out.iloc[1:].isna().to_numpy().sum())
        (log.warning if later else log.info)(
            "%s: %d n/a value(s) in the chosen confounds replaced by 0 (%d after the first row)",
            run.confounds.name, n_nan, later)
    return out.fillna(0.0)


def _strategy_key(column: str, strategy: Mapping) -> str:
    """The ``preprocess.confounds`` key that chose ``column``."""
    if column in strategy.get("columns", ()):
        return "preprocess.confounds.columns"
    if column.startswith("a_comp_cor"):
        return "preprocess.confounds.compcor"
    if column.startswith("cosine"):
        return "preprocess.confounds.drift"
    return "preprocess.confounds.motion"


def polynomial_drift(n_volumes: int, degree: int) -> np.ndarray:
    """Legendre polynomials of degree 0..``degree`` over the run (T × degree+1), GLMsingle's drift model."""
    x = np.linspace(-1, 1, n_volumes)
    return np.polynomial.legendre.legvander(x, degree)


def auto_polynomial_degree(n_volumes: int, tr: float) -> int:
    """GLMsingle's default: round(run length in minutes / 2)."""
    return round(n_volumes * tr / 60.0 / 2.0)
