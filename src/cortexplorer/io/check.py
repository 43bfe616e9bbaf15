"""Cheap checks that a cached output another rule reads is whole, run when the workflow's DAG is built.

Snakemake deletes a job's previous outputs before the job starts, so a reader that found its input
truncated only after starting would leave neither the old result nor a new one. Checking the input
when the DAG is built stops first, names the file and the rule that rebuilds it, and deletes nothing.
Only checks that cost little on large files: an HDF5 file opens (its superblock and end of file agree),
a TSV ends with a newline and every row has as many fields as the header.
"""

from __future__ import annotations

import os
from pathlib import Path


class DamagedOutputError(ValueError):
    """A cached output is cut short or damaged; the message names it and the rule that rebuilds it."""


def _tsv_problem(path: Path) -> str | None:
    data = path.read_bytes()
    if not data:
        return "it is empty"
    if not data.endswith(b"\n"):
        return "its last line has no newline, so the file was cut short"
    lines = data.decode("utf-8", errors="replace").splitlines()
    n = lines[0].count("\t")
    short = [i + 1 for i, line in enumerate(lines) if line.count("\t") != n]
    if short:
        return f"line(s) {short[:5]} have a different number of fields from the header"
    return None


def _h5_problem(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r"):
            return None
    except OSError as err:
        return f"HDF5 cannot open it: {str(err).splitlines()[0]}"


def check_cached(path: str | os.PathLike, made_by: str) -> str:
    """Return ``path`` unchanged; if it exists and is visibly damaged, raise naming it and ``made_by``."""
    p = Path(path)
    if not p.is_file():
        return str(path)
    name = p.name
    problem = _h5_problem(p) if name.endswith(".h5") else _tsv_problem(p) if name.endswith(".tsv") else None
    if problem:
        raise DamagedOutputError(
            f"'{p}' is damaged or cut short ({problem}). It is an output of rule {made_by}: delete it and run "
            f"snakemake again, which reruns {made_by} and the rules that read it. Nothing was run or deleted.")
    return str(path)


def folder_files(folder: str | os.PathLike, recursive: bool = False) -> list[str]:
    """The visible files directly in ``folder`` (sorted; with ``recursive``, also those in its visible
    sub-folders), as inputs of the job that imports the folder: beside the folder itself (whose time changes
    only when a file is added or removed), an edited file reruns the job."""
    if not recursive:
        return sorted(e.path for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
    return visible_tree(folder)[0]


def visible_tree(folder: str | os.PathLike) -> tuple[list[str], int]:
    """The visible files of ``folder`` and its visible sub-folders (sorted; symlinked sub-folders followed, as a
    lab's stimulus tree often links them), and how many hidden entries (names starting with '.', files or
    folders, the latter not entered) were skipped. The one walk of a folder tree that the workflow lists as a
    job's inputs and that the job then imports, so both see the same files."""
    found, hidden = [], 0
    for root, dirs, files in os.walk(folder, followlinks=True):
        hidden += sum(name.startswith(".") for name in (*dirs, *files))
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return sorted(found), hidden
