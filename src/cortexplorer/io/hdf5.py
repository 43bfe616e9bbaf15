"""HDF5 writing with byte-identical output for identical input (no timestamps), atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from cortexplorer.io.atomic import atomic_path


def write_h5(path: str | os.PathLike, datasets: Mapping[str, Any], attrs: Mapping[str, Any] | None = None,
             *, compress: tuple[str, ...] = (), chunks: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """Write ``datasets`` (name -> array; str arrays stored as bytes) and file ``attrs`` to ``path``.

    Datasets named in ``compress`` are gzip-compressed (level 1). HDF5 object timestamps are
    switched off so that the same data always gives the same file.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, value in datasets.items():
            arr = np.asarray(value)
            if arr.dtype.kind == "U":
                arr = arr.astype("S")
            kwargs: dict[str, Any] = {"track_times": False}
            if name in compress:
                kwargs.update(compression="gzip", compression_opts=1)
            if chunks and name in chunks:
                kwargs["chunks"] = chunks[name]
            f.create_dataset(name, data=arr, **kwargs)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
