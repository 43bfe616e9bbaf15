"""Small text formats: BIDS-style TSV tables (``n/a`` for missing values) and JSON sidecars, all UTF-8."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from cortexplorer.io.atomic import atomic_path


def write_tsv(table: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``table`` atomically as a BIDS-style TSV (no index, ``n/a`` for missing)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a", float_format="%.6g", encoding="utf-8")


def write_json(data: Any, path: str | os.PathLike) -> None:
    """Write ``data`` atomically as indented JSON (values JSON cannot hold are written as strings)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def read_tsv(path: str | os.PathLike, *, required: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a BIDS-style TSV and check that ``required`` columns are present."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Table '{path}' does not exist.")
    try:  # utf-8-sig: plain UTF-8, or UTF-8 with the byte-order mark spreadsheet programs put first
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype={"stim_id": str},
                            encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"Table '{path}' is not UTF-8 text (it holds the byte {e.object[e.start:e.start + 1]!r}); "
                         "save it again as UTF-8 (in a spreadsheet program: 'CSV UTF-8', tab-separated).") from e
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(
            f"Table '{path}' lacks the column(s) {missing}; it has {list(table.columns)}. "
            "Regenerate it or add the missing columns."
        )
    return table


def read_json(path: str | os.PathLike, *, made_by: str | None = None) -> Any:
    """Read a JSON file (UTF-8); a file that is not valid JSON is named with the line and column and the fix
    (``made_by``, e.g. "rule simulate", for a workflow output; otherwise it is the user's file to fix)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        fix = (f"it is an output of {made_by}: delete it and run snakemake again to rebuild it" if made_by
               else f"fix it (python -m json.tool '{path}' shows where it breaks)")
        raise ValueError(f"'{path}' is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                         f"{fix}.") from None
