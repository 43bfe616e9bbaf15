"""Kill a run in the middle of a long rule; plain `snakemake` finishes it, with identical results.

The run starts from the shared smoke run's results upstream of the killed rule (`simulate`); it recomputes
simulate and everything after it, and all results are compared with the smoke run's."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .conftest import ONE_THREAD, SMOKE, SNAKEMAKE, copy_repo, dry_run_jobs, snakemake


def checksums(results: Path) -> dict[str, str]:
    """sha256 of every result file (provenance sidecars, `*provenance.json`, record wall-clock times, so they differ)."""
    return {str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(results.rglob("*")) if p.is_file() and not p.name.endswith("provenance.json")}


def _outputs_of_simulate_and_after(reference: Path) -> list[str]:
    """What a rerun of `simulate` rewrites: the outputs of simulate and of every job downstream of it (dry run)."""
    proc = snakemake(reference, "-n", "--configfile", "config/smoke.yaml", "--forcerun", "simulate")
    outputs = [p.strip() for line in re.findall(r"^\s+output: (.*)$", proc.stdout + proc.stderr, re.M)
               for p in line.split(",")]
    assert {SMOKE.simulated_subject("01").bids, SMOKE.encoder("01", "democlip").model} <= set(outputs), outputs
    return outputs


def _seed_upstream(reference: Path, work: Path) -> int:
    """Copy into ``work`` the reference run's results that neither simulate nor anything after it writes (with
    their times, and Snakemake's records of them), so the killed run starts at simulate: the jobs that a kill
    during simulate cannot touch are not run again here (the shared smoke run ran them)."""
    rewritten = _outputs_of_simulate_and_after(reference)
    n = 0
    for src in sorted((reference / SMOKE.results).rglob("*")):
        rel = str(src.relative_to(reference))
        if src.is_file() and not any(rel == out or rel.startswith(out.rstrip("/") + "/") for out in rewritten):
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / rel)
            n += 1
    shutil.copytree(reference / ".snakemake" / "metadata", work / ".snakemake" / "metadata")
    return n


def _kill_during_simulate(work: Path, sig: int) -> None:
    proc = subprocess.Popen([SNAKEMAKE, *ONE_THREAD, "--configfile", "config/smoke.yaml"], cwd=work, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = work / SMOKE.log("simulate_sub-01")
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


def test_killed_runs_resume_to_identical_results(smoke_run: Path, tmp_path: Path):
    """SIGTERM during simulate, then the restarted run (which must get that far) SIGKILLed during simulate; plain
    snakemake then finishes, with results identical to the uninterrupted smoke run's. One resume for both signals."""
    smoke_results = smoke_run / SMOKE.results
    work = copy_repo(tmp_path / "repo")
    assert _seed_upstream(smoke_run, work) >= 20
    planned = dry_run_jobs(snakemake(work, "-n", "--configfile", "config/smoke.yaml"))
    assert planned["simulate"] == 1 and planned["preprocess"] == 1, planned
    assert not {"oracle", "stimuli_demo", "demo_diffusion", "visual_search"} & set(planned), planned
    results = work / SMOKE.results
    for sig in (signal.SIGTERM, signal.SIGKILL):
        (work / SMOKE.log("simulate_sub-01")).unlink(missing_ok=True)  # wait for this run's simulate, not the last one's
        _kill_during_simulate(work, sig)
        # nothing of the interrupted rule looks complete
        simulated = SMOKE.simulated_subject("01")
        assert not any((work / p).exists() for p in simulated.files())
        leftovers = [p.name for p in results.rglob("*.partial*")]
        if sig == signal.SIGTERM:
            assert leftovers == [], "SIGTERM lets the stage remove its temporaries"
        else:
            # SIGKILL leaves Snakemake's lock (Snakemake's own --unlock clears it) and maybe hidden temporaries
            assert all(name.startswith(".") for name in leftovers)
            snakemake(work, "--unlock", "--configfile", "config/smoke.yaml")
    snakemake(work, *ONE_THREAD, "--configfile", "config/smoke.yaml")  # plain snakemake: the workflow profile resumes
    assert not list(results.rglob("*.partial*"))
    resumed, reference = checksums(results), checksums(smoke_results)
    assert resumed.keys() == reference.keys()
    assert [k for k in resumed if resumed[k] != reference[k]] == []
