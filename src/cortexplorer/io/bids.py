"""BIDS paths built from entities, in BIDS order: the one place a BIDS file name is spelled."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cortexplorer.io.tables import read_tsv, write_json

# Entity order from the BIDS specification (the subset this project writes or reads).
ENTITY_ORDER = ("sub", "ses", "task", "acq", "run", "echo", "space", "res", "den", "label", "desc")
TEMPLATE_SPACE = "MNI152NLin2009aSym"  # the ICBM 2009a symmetric template that nilearn ships


def bids_name(*, suffix: str, extension: str, **entities: Any) -> str:
    """File name from entities, e.g. ``bids_name(sub="01", task="nsd", run=1, suffix="bold", extension=".nii.gz")``.

    Runs are written as two digits (``run-01``); ``None`` entities are left out.
    """
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"Unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}.")
    parts = []
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is None:
            continue
        if key == "run" and isinstance(value, int):
            value = f"{value:02d}"
        parts.append(f"{key}-{value}")
    return "_".join([*parts, suffix]) + extension


def bids_path(root: str | os.PathLike, *, datatype: str = "func", suffix: str, extension: str, **entities: Any) -> Path:
    """Full path ``root/sub-X[/ses-Y]/datatype/<name>``."""
    folder = Path(root) / f"sub-{entities['sub']}"
    if entities.get("ses") is not None:
        folder = folder / f"ses-{entities['ses']}"
    return folder / datatype / bids_name(suffix=suffix, extension=extension, **entities)


def write_dataset_description(root: str | os.PathLike, name: str, *, derivative_of: str | None = None,
                              generated_by: str = "cortexplorer") -> None:
    """``dataset_description.json`` for a raw dataset, or a derivative one when ``derivative_of`` is set."""
    desc: dict[str, Any] = {"Name": name, "BIDSVersion": "1.9.0",
                            "DatasetType": "derivative" if derivative_of else "raw"}
    if derivative_of:
        desc["GeneratedBy"] = [{"Name": generated_by}]
        desc["SourceDatasets"] = [{"URL": derivative_of}]
    write_json(desc, Path(root) / "dataset_description.json")


NIFTI = (".nii.gz", ".nii")


def parse_bids_name(name: str) -> tuple[dict[str, str], str, str] | None:
    """``sub-01_task-x_run-1_bold.nii.gz`` → ({sub: 01, task: x, run: 1}, "bold", ".nii.gz"); None if not BIDS-like."""
    stem, dot, ext = name.partition(".")
    *pairs, suffix = stem.split("_")
    entities = {}
    for pair in pairs:
        key, sep, value = pair.partition("-")
        if not sep or not value:
            return None
        entities[key] = value
    return entities, suffix, dot + ext


def _wanted(entities: dict[str, str], suffix: str, ext: str, *, subject: str, task: str | None,
            space: str | None, res: str | None, sessions: Sequence[str] | None = None) -> bool:
    if entities.get("sub", subject) != subject or (task and entities.get("task", task) != task):
        return False
    if sessions and "ses" in entities and entities["ses"] not in sessions:
        return False
    if (space and entities.get("space", space) != space) or (res and entities.get("res", res) != res):
        return False
    desc = entities.get("desc")
    if suffix == "events":
        return ext == ".tsv" and "task" in entities
    if suffix == "bold":
        return desc in (None, "preproc") if ext == ".json" else ext in NIFTI and desc == "preproc"
    if suffix in ("timeseries", "regressors"):
        return desc == "confounds" and ext == ".tsv" and "task" in entities
    if suffix == "mask":
        return desc == "brain" and ext in NIFTI and "task" in entities
    return False


def run_files(root: str | os.PathLike, *, subject: str, task: str | None, space: str | None = None,
              res: str | None = None, sessions: Sequence[str] | None = None) -> list[str]:
    """Every file the BIDS reader may read for ``subject``'s runs of ``task``, found without indexing the dataset.

    The raw dataset and each pipeline under ``derivatives/``: events, BOLD sidecars (at any level of the
    inheritance: dataset, subject, session, run), preprocessed BOLD (``desc-preproc``) and brain masks in
    ``space``/``res``, confound tables. Used as the rules' inputs, so that editing one of them reruns
    exactly the stages that read it; files of other subjects, tasks or spaces, anatomy and the like are
    not listed. ``sessions``: only these sessions' files (None or empty: every session). Walks only
    ``subject``'s folders (fast on large datasets); sorted, so the list is stable. ``task`` None: every task.
    """
    root = Path(root)
    datasets = [root]
    derivatives = root / "derivatives"
    if derivatives.is_dir():
        datasets += sorted(p for p in derivatives.iterdir() if p.is_dir())
    found = []
    for ds in datasets:
        folders = [ds]
        sub = ds / f"sub-{subject}"
        if sub.is_dir():
            levels = sorted(p for p in sub.iterdir() if p.is_dir() and p.name.startswith("ses-")
                            and (not sessions or p.name[4:] in sessions))
            for level in (sub, *levels):
                folders += [level, level / "func"]
        for folder in folders:
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                parsed = parse_bids_name(entry.name)
                if parsed and _wanted(*parsed, subject=subject, task=task, space=space, res=res,
                                      sessions=sessions):
                    found.append(entry.path)
    return sorted(found)


class BidsDatasetError(ValueError):
    """The BIDS dataset does not hold what the config asks for; the message names the file or participant and the fix."""


def bare_label(value: str) -> str:
    """A participant or session label as BIDS Apps take it: with or without its ``sub-``/``ses-`` prefix."""
    for prefix in ("sub-", "ses-"):
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def _subject_folders(root: Path) -> list[str]:
    return sorted((p.name[4:] for p in root.iterdir() if p.is_dir() and p.name.startswith("sub-")),
                  key=natural_key)


def natural_key(label: str) -> tuple:
    """Sort key that puts ses-2 before ses-10 (numbers compare as numbers, and before text)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", label) if t)


def listed_participants(root: str | os.PathLike) -> list[str] | None:
    """The ``participant_id`` column of ``participants.tsv`` (labels without ``sub-``); None when there is no such file."""
    path = Path(root) / "participants.tsv"
    if not path.is_file():
        return None
    table = read_tsv(path)
    if "participant_id" not in table.columns:
        raise BidsDatasetError(f"'{path}' has no participant_id column (its header: {list(table.columns)}). BIDS "
                               "requires it as the first column, holding sub-<label>; fix the file or delete it.")
    return [bare_label(str(i).strip()) for i in table["participant_id"].dropna()]


def what_subject_has(root: str | os.PathLike, subject: str) -> str:
    """The task labels of ``subject``'s run files and the spaces of its preprocessed BOLD (for messages)."""
    tasks: set[str] = set()
    spaces: set[str] = set()
    for path in run_files(root, subject=subject, task=None):
        parsed = parse_bids_name(Path(path).name)
        if parsed and "task" in parsed[0]:
            tasks.add(parsed[0]["task"])
        if parsed and parsed[1] == "bold" and parsed[0].get("desc") == "preproc":
            spaces.add("-".join(filter(None, (parsed[0].get("space", "(none)"), parsed[0].get("res")))))
    return f"tasks it has: {sorted(tasks)}, spaces of its preprocessed BOLD: {sorted(spaces)}"


def usable_runs(files: Sequence[str]) -> tuple[int, int]:
    """(events files, preprocessed BOLD files) among :func:`run_files` output."""
    names = [Path(f).name for f in files]
    events = sum(n.endswith("_events.tsv") for n in names)
    bold = sum("desc-preproc_bold.nii" in n for n in names)
    return events, bold


def participants(root: str | os.PathLike, *, tasks: Sequence[str], labels: Sequence[str] = (),
                 sessions: Sequence[str] = (), space: str | None = None, res: str | None = None,
                 skip_unusable: bool = False, warn: Any = None) -> list[str]:
    """The participants a BIDS-App run processes, as fMRIPrep and MRIQC choose them.

    Every ``sub-*`` folder of the raw dataset ``root``, cross-checked with ``participants.tsv`` when present
    (a mismatch is warned about), narrowed to ``labels`` (with or without ``sub-``; a label not in the
    dataset is an error listing those present). A participant is usable when, for every task in ``tasks``
    (and limited to ``sessions`` when given), it has at least one events file and one preprocessed BOLD
    (``desc-preproc``) in ``space``/``res``. An unusable participant is an error naming it, what it lacks
    and the fix, or, with ``skip_unusable``, left out with a warning. Reads folder listings only (no
    indexing), so it is quick enough to run each time the workflow builds its DAG.
    ``warn``: called with each warning's text (default: :func:`warnings.warn`).
    """
    import warnings

    root = Path(root)
    say = warn or (lambda text: warnings.warn(text, stacklevel=2))
    present = _subject_folders(root)
    if not present:
        raise BidsDatasetError(f"'{root}' has no participant folders (sub-<label>/). Point bids.root at the raw "
                               "BIDS dataset, the folder that holds sub-*/ and derivatives/.")
    listed = listed_participants(root)
    if listed is not None:
        unlisted = [s for s in present if s not in listed]
        missing = [s for s in listed if s not in present]
        if unlisted:
            say(f"{root / 'participants.tsv'} does not list {['sub-' + s for s in unlisted]}, which have folders; "
                "they are processed. Add them to participants.tsv to silence this.")
        if missing:
            say(f"{root / 'participants.tsv'} lists {['sub-' + s for s in missing]}, which have no folder under "
                f"'{root}'; they are not processed.")
    wanted = [bare_label(str(x)) for x in labels]
    unknown = [x for x in wanted if x not in present]
    if unknown:
        raise BidsDatasetError(
            f"bids.participant_label names {['sub-' + x for x in unknown]}, not in the dataset '{root}'. "
            f"Participants present: {present}. Fix the label(s) (with or without 'sub-').")
    chosen = [s for s in present if not wanted or s in wanted]
    sessions = [bare_label(str(x)) for x in sessions]
    usable = []
    for subject in chosen:
        problems = []
        for task in dict.fromkeys(tasks):
            events, bold = usable_runs(run_files(root, subject=subject, task=task, space=space, res=res,
                                                 sessions=sessions or None))
            if events and bold:
                continue
            lacks = " and ".join(w for w, n in (("events files", events), ("preprocessed BOLD (desc-preproc"
                                 f"{', space-' + space if space else ''}{', res-' + res if res else ''})", bold))
                                 if not n)
            where = f" in session(s) {sessions}" if sessions else ""
            problems.append(f"no {lacks} of task '{task}'{where}")
        if not problems:
            usable.append(subject)
            continue
        text = f"sub-{subject} has {'; '.join(problems)} under '{root}' ({what_subject_has(root, subject)})"
        if skip_unusable:
            say(f"{text}; skipped (bids.skip_unusable is true).")
            continue
        raise BidsDatasetError(f"{text}. Leave it out with bids.participant_label, set bids.skip_unusable: true "
                               "to skip such participants with a warning, or check preprocess.task / rois.task "
                               "/ preprocess.space / bids.sessions.")
    if not usable:
        raise BidsDatasetError(f"No usable participant in '{root}' (each was skipped above); nothing to process.")
    return usable
