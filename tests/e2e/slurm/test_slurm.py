"""The smoke workflow through Snakemake's SLURM executor on a real one-node cluster."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ..conftest import ONE_THREAD, SMOKE, copy_repo, snakemake
from .cluster import LocalSlurm, unavailable_reason

SLURM_FLAGS = (  # no accounting daemon here: squeue for status, no account look-ups
    "--slurm-status-command", "squeue", "--slurm-no-account",
    # the executor checks 4 s after a check that saw a job finish, then 10 s later each time: 4, 18, 42 s. A smoke
    # job takes 8-17 s in SLURM (3-12 s of work, Snakemake's jobstep, srun), so it is seen at 18 s (with 2: at 14
    # or 36 s, half of them at 36)
    "--slurm-init-seconds-before-status-checks", "4",
    # one CPU per job, so the 2-CPU test node runs two jobs at once: jobs run one at a time spent most of their
    # time waiting for the next status check
    *ONE_THREAD,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CORTEXPLORER_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM test required but cannot run: {reason}")
        pytest.skip(reason)
    slurm = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()


def _slurm_ids(output: str) -> dict[str, list[str]]:
    """{rule: [SLURM job ids]} from Snakemake's 'submitted with SLURM jobid' lines."""
    ids: dict[str, list[str]] = {}
    for jobid, log in re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", output):
        rule = re.search(r"/rule_([A-Za-z0-9_]+)/", log).group(1)
        ids.setdefault(rule, []).append(jobid)
    return ids


def test_smoke_workflow_on_slurm(cluster, tmp_path: Path):
    work = copy_repo(tmp_path / "repo")
    proc = snakemake(work, "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml", *SLURM_FLAGS,
                     timeout=1500)
    out = proc.stdout + proc.stderr
    s = SMOKE
    for path in (s.stimuli().images, s.image_set("pool").images, s.image_set("localizer").images, s.oracle().model,
                 f"{s.simulated_subject('01').truth}/responses.h5", s.simulation().derivatives, s.features("democlip").features,
                 s.encoder("01", "democlip").model, s.demo_diffusion().model, s.demo_prior().quality,
                 s.braindive("01", "faces").scores,
                 s.braindive_evaluation("01").summary, s.visual_search_summary().asymmetry, s.triplet_fit().weights,
                 s.odd_one_out().embedding):
        assert (work / path).stat().st_size > 0, path
    assert (work / "reports" / "smoke" / "index.html").stat().st_size > 0
    ids = _slurm_ids(out)
    assert set(ids) >= {"stimuli_demo", "oracle", "simulate", "report_dashboard", "demo_clip", "features",
                        "encoder", "demo_diffusion", "demo_prior", "braindive_unguided", "braindive", "braindive_evaluate",
                        "demo_cnn", "visual_search", "triplet_search", "triplet_fit", "odd_one_out"}, ids
    assert len(ids["braindive"]) == 3  # one job per region
    # the GPU rule reached sbatch with a GPU request; a CPU rule did not
    gpu_job = subprocess.run(["scontrol", "show", "job", ids["oracle"][0]], capture_output=True, text=True,
                             check=True).stdout
    cpu_job = subprocess.run(["scontrol", "show", "job", ids["simulate"][0]], capture_output=True, text=True,
                             check=True).stdout
    print(f"oracle job {ids['oracle'][0]}:\n{gpu_job}")
    assert re.search(r"TresPerJob=gres[:/]gpu[:=]1", gpu_job), gpu_job
    assert "JobState=COMPLETED" in gpu_job
    assert "gpu" not in re.search(r"TresPerJob=(\S*)", cpu_job + "TresPerJob=").group(1)
