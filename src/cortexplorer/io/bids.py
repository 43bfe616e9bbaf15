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
