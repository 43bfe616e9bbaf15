"""HDF5 files: written byte-identically for identical input (no timestamps) and atomically; read through
:func:`open_h5`, whose errors name the file and how to rebuild it.

Text is stored as UTF-8 bytes in fixed-length ``S`` datasets (for ASCII text these are the same bytes
as numpy's ``astype("S")``, so files written before UTF-8 support are unchanged) and read back with
:func:`read_strings`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np

from cortexplorer.io.atomic import atomic_path


class UnreadableFileError(OSError, ValueError):
    """A cached output that exists but cannot be read (truncated, corrupt or not HDF5).

    Both an ``OSError`` (what h5py raised before) and a ``ValueError`` (what readers raise for a
    file that is not what they expect), like :class:`io.UnsupportedOperation`.
    """


def write_h5(path: str | os.PathLike, datasets: Mapping[str, Any], attrs: Mapping[str, Any] | None = None,
             *, compress: tuple[str, ...] = (), chunks: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """Write ``datasets`` (name -> array; str arrays stored as UTF-8 bytes) and file ``attrs`` to ``path``.

    Datasets named in ``compress`` are gzip-compressed (level 1). HDF5 object timestamps are
    switched off so that the same data always gives the same file. Read str datasets back with
    :func:`read_strings`.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, value in datasets.items():
            arr = np.asarray(value)
            if arr.dtype.kind == "U":
                arr = np.char.encode(arr, "utf-8")
            kwargs: dict[str, Any] = {"track_times": False}
            if name in compress:
                kwargs.update(compression="gzip", compression_opts=1)
            if chunks and name in chunks:
                kwargs["chunks"] = chunks[name]
            f.create_dataset(name, data=arr, **kwargs)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


def read_strings(data: h5py.Dataset | np.ndarray) -> np.ndarray:
    """The text a str dataset of :func:`write_h5` holds (a dataset or the array read from it), as str."""
    arr = data[()] if isinstance(data, h5py.Dataset) else np.asarray(data)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8")
    if arr.dtype.kind == "O":  # variable-length strings (files made by other tools): bytes or str objects
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel()],
                        dtype=str).reshape(arr.shape)
    return arr.astype(str)


def _rebuild_hint(made_by: str | None) -> str:
    return f" (rule {made_by} writes it)" if made_by else ""


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, *, made_by: str | None = None) -> Iterator[h5py.File]:
    """Open a cached HDF5 output for reading; ``made_by`` names the rule that writes it, for the errors.

    A missing file raises ``FileNotFoundError``; a truncated or non-HDF5 file, or data that cannot be
    read from it, raise :class:`UnreadableFileError`. Each message names the file and the fix.
    """
    path = os.fspath(path)
    hint = _rebuild_hint(made_by)
    if not os.path.exists(path):
        raise FileNotFoundError(f"'{path}' does not exist; run snakemake to build it{hint}.")
    if os.path.isdir(path):
        raise UnreadableFileError(f"'{path}' is a folder, not an HDF5 file; delete it and run snakemake again to "
                                  f"rebuild it{hint}.")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        text = str(e)
        if "truncated file" in text:
            what = f"is truncated ({os.path.getsize(path)} bytes; an interrupted copy or a full disk)"
        elif "file signature not found" in text:
            what = "is not an HDF5 file" + (" (it is empty)" if os.path.getsize(path) == 0 else "")
        else:
            what = f"cannot be opened as HDF5 ({text})"
        raise UnreadableFileError(f"'{path}' {what}; delete it and run snakemake again to rebuild it{hint}.") from e
    with f:
        try:
            yield f
        except OSError as e:
            # h5py reports unreadable data (a corrupt chunk) as a plain OSError "Can't ... read ..."
            if type(e) is not OSError or "Can't" not in str(e):
                raise
            raise UnreadableFileError(f"'{path}' is corrupt: part of it cannot be read ({e}); delete it and run "
                                      f"snakemake again to rebuild it{hint}.") from e
