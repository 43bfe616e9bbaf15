"""BIDS paths built from entities, in BIDS order: the one place a BIDS file name is spelled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cortexplorer.io.tables import write_json

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


def _wanted(entities: dict[str, str], suffix: str, ext: str, *, subject: str, task: str, space: str | None,
            res: str | None) -> bool:
    if entities.get("sub", subject) != subject or entities.get("task", task) != task:
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


def run_files(root: str | os.PathLike, *, subject: str, task: str, space: str | None = None,
              res: str | None = None) -> list[str]:
    """Every file the BIDS reader may read for ``subject``'s runs of ``task``, found without indexing the dataset.

    The raw dataset and each pipeline under ``derivatives/``: events, BOLD sidecars (at any level of the
    inheritance: dataset, subject, session, run), preprocessed BOLD (``desc-preproc``) and brain masks in
    ``space``/``res``, confound tables. Used as the rules' inputs, so that editing one of them reruns
    exactly the stages that read it; files of other subjects, tasks or spaces, anatomy and the like are
    not listed. Walks only ``subject``'s folders (fast on large datasets); sorted, so the list is stable.
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
            sessions = sorted(p for p in sub.iterdir() if p.is_dir() and p.name.startswith("ses-"))
            for level in (sub, *sessions):
                folders += [level, level / "func"]
        for folder in folders:
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                parsed = parse_bids_name(entry.name)
                if parsed and _wanted(*parsed, subject=subject, task=task, space=space, res=res):
                    found.append(entry.path)
    return sorted(found)
