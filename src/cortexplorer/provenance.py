"""Provenance sidecars: the exact settings, seed, code and package versions behind an output."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from cortexplorer import __version__
from cortexplorer.io.tables import write_json

_PACKAGES = (
    "numpy", "scipy", "pandas", "h5py", "nibabel", "nilearn", "torch", "scikit-learn",
    "snakemake", "diffusers", "open_clip_torch", "transformers", "himalaya", "pillow",
)


def git_revision(path: str | os.PathLike | None = None) -> str:
    """The git commit of the code (``+dirty`` if the tree has changes); ``unknown`` outside git."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cortexplorer": __version__}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def source_digest(*packages: str) -> str:
    """SHA-256 (16 hex digits) of the Python sources of ``packages`` (e.g. ``"cortexplorer.oracle"``).

    Snakemake's between-workflow cache hashes a rule's script and params but not the modules the
    script imports, so cached rules pass this digest as a param to key the cache on the code.
    """
    import importlib.util

    h = hashlib.sha256()
    for name in sorted(packages):
        spec = importlib.util.find_spec(name)  # finds the file without running the module (the DAG build stays light)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"source_digest: no module named {name!r}")
        root = Path(spec.origin).parent if spec.origin.endswith("__init__.py") else Path(spec.origin)
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for f in files:
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def config_digest(settings: Any) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_sidecar(path: str | os.PathLike, *, stage: str, settings: dict, seed: int | None, **extra: Any) -> None:
    """Write ``path`` (a ``.json``) recording what produced the neighbouring output."""
    record = {
        "stage": stage,
        "settings": settings,
        "settings_digest": config_digest(settings),
        "seed": seed,
        "code_version": git_revision(),
        "packages": package_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }
    write_json(record, path)
