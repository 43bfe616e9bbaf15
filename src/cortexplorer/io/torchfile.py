"""Saving torch objects atomically and byte-reproducibly."""

from __future__ import annotations

import io
import os
from typing import Any

from cortexplorer.io.atomic import atomic_path


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically.

    Saved through a buffer because torch names the zip archive after the file it writes to,
    and the temporary name would make identical weights give different bytes.
    """
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())
