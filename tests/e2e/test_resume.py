"""Kill a run in the middle of a long rule; plain `snakemake` finishes it, with identical results."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import SMOKE, SNAKEMAKE, copy_repo, snakemake


def checksums(results: Path) -> dict[str, str]:
    """sha256 of every result file (provenance sidecars, `*provenance.json`, record wall-clock times, so they differ)."""
    return {str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(results.rglob("*")) if p.is_file() and not p.name.endswith("provenance.json")}


def _kill_during_simulate(work: Path, sig: int) -> None:
    proc = subprocess.Popen([SNAKEMAKE, "--configfile", "config/smoke.yaml"], cwd=work, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = work / SMOKE.log("simulate")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # wait until simulate is writing runs
        if log.exists() and "grid" in log.read_text():
            break
        if proc.poll() is not None:
            raise AssertionError("the run ended before the simulate rule started")
        time.sleep(0.2)
    else:
        raise AssertionError("simulate never started")
    time.sleep(1.0)
    os.killpg(proc.pid, sig)  # the whole process group: snakemake and the running job
    proc.wait(timeout=120)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_resumes_to_identical_results(smoke_results: Path, tmp_path: Path, sig):
    work = copy_repo(tmp_path / "repo")
    _kill_during_simulate(work, sig)
    results = work / SMOKE.results
    # nothing of the interrupted rule looks complete
    assert not (work / SMOKE.simulation().bids).exists() and not (work / SMOKE.simulation().truth).exists()
    leftovers = [p.name for p in results.iterdir() if ".partial" in p.name]
    if sig == signal.SIGTERM:
        assert leftovers == [], "SIGTERM lets the stage remove its temporaries"
    else:
        # SIGKILL leaves Snakemake's lock (Snakemake's own --unlock clears it) and maybe hidden temporaries
        assert all(name.startswith(".") for name in leftovers)
        snakemake(work, "--unlock", "--configfile", "config/smoke.yaml")
    snakemake(work, "--configfile", "config/smoke.yaml")  # plain snakemake: the workflow profile resumes
    assert not list(results.rglob("*.partial*"))
    resumed, reference = checksums(results), checksums(smoke_results)
    assert resumed.keys() == reference.keys()
    assert [k for k in resumed if resumed[k] != reference[k]] == []
