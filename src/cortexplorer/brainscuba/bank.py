"""Where BrainSCUBA's image bank lives (kept free of heavy imports: the workflow reads it at DAG build)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def bank_paths(bank: str | Sequence[str] | None, *, default: Sequence[str] = ()) -> list[str]:
    """The bank's shard paths: a list, or a manifest file (one path per line, ``#`` comments, relative paths
    taken from the manifest's folder); ``None`` gives ``default`` (the demo's pool embeddings)."""
    if bank is None:
        return list(default)
    if isinstance(bank, str):
        manifest = Path(bank)
        if not manifest.is_file():
            raise FileNotFoundError(f"Bank manifest '{manifest}' (brainscuba.bank) does not exist; give a text file "
                                    "with one .npy/.h5 shard path per line, or a list of paths.")
        lines = [ln.strip() for ln in manifest.read_text().splitlines()]
        paths = [str(p if Path(p).is_absolute() else manifest.parent / p) for p in lines
                 if p and not p.startswith("#")]
        if not paths:
            raise ValueError(f"Bank manifest '{manifest}' lists no shards; add one .npy/.h5 path per line.")
        return paths
    return [str(p) for p in bank]
