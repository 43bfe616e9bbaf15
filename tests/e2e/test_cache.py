"""Snakemake's between-workflow cache serves the oracle to a second working directory."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

from .conftest import ONE_THREAD, SMOKE, copy_repo, snakemake

TINY = "oracle:\n  n_train: 120\n  n_heldout: 24\n  epochs: 1\n  width: 4\n"
TARGET = SMOKE.oracle().model
LOG = SMOKE.log("oracle")


def _run(work: Path, cache: Path, *configs: str):
    env_before = os.environ.get("SNAKEMAKE_OUTPUT_CACHE")
    os.environ["SNAKEMAKE_OUTPUT_CACHE"] = str(cache)
    try:
        return snakemake(work, TARGET, "--cache", "--cores", "2", *ONE_THREAD, "--configfile", "config/smoke.yaml", *configs)
    finally:
        if env_before is None:
            del os.environ["SNAKEMAKE_OUTPUT_CACHE"]
        else:
            os.environ["SNAKEMAKE_OUTPUT_CACHE"] = env_before


def test_second_workdir_is_served_from_the_cache(tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    a, b = copy_repo(tmp_path / "a"), copy_repo(tmp_path / "b")
    for work in (a, b):
        (work / "tiny.yaml").write_text(TINY)

    _run(a, cache, "tiny.yaml")
    assert "training the oracle" in (a / LOG).read_text()
    n_entries = len(list(cache.iterdir()))
    assert n_entries >= 1

    proc = _run(b, cache, "tiny.yaml")
    out = proc.stdout + proc.stderr
    log = b / LOG  # Snakemake leaves an empty log for a job served from the cache
    assert "training the oracle" not in (log.read_text() if log.exists() else ""), "trained again, not cached"
    served = b / TARGET
    assert served.is_symlink() and Path(os.path.realpath(served)).is_relative_to(cache.resolve())
    assert filecmp.cmp(a / TARGET, served, shallow=False)
    assert (b / SMOKE.oracle().metrics).exists()
    print("\n".join(line for line in out.splitlines() if "cache" in line.lower()))

    # one relevant setting changed: a different cache key, so the rule runs
    (b / "tiny.yaml").write_text(TINY.replace("epochs: 1", "epochs: 2"))
    _run(b, cache, "tiny.yaml")
    assert "training the oracle" in (b / LOG).read_text()
    assert len(list(cache.iterdir())) > n_entries
