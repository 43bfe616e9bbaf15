"""Lint of the code and the rules (no workflow run): ruff on every Python file, snakefmt on every rule file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, starts_snakemake

BIN = Path(sys.executable).parent


def test_ruff_is_clean():
    proc = subprocess.run([str(BIN / "ruff"), "check", "src", "tests", "benchmarks", "workflow/scripts"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_snakefmt_is_clean():
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_guard_recognises_every_way_of_starting_snakemake():
    assert starts_snakemake(["snakemake", "--cores", "2"])
    assert starts_snakemake(["/work/.venv/bin/snakemake", "-n"])
    assert starts_snakemake("cd /tmp && snakemake -n")
    assert starts_snakemake([sys.executable, "-m", "snakemake", "--version"])
    assert starts_snakemake(["anything"], executable="/usr/bin/snakemake")
    assert not starts_snakemake(["snakefmt", "--check", "."])
    assert not starts_snakemake([sys.executable, "-c", "print('snakemake_results')"])
    assert subprocess.Popen.__name__ == "GuardedPopen"  # the guard is on in this (unit) test


def test_worker_groups_keep_the_smoke_run_in_one_worker():
    """`make test`'s grouping (tests/conftest.py): the SLURM test alone, the smoke run's readers together, the rest
    free; a file said not to need the smoke run does not ask for it (the e2e guard would fail its tests)."""
    from tests.conftest import OWN_WORKER_FILES, worker_group

    assert worker_group("tests/e2e/slurm/test_slurm.py::test_smoke_workflow_on_slurm") == "slurm"
    assert worker_group("tests/e2e/test_workflow.py::test_lint_is_clean") == "smoke"
    assert worker_group("tests/e2e/test_bids_app.py::test_bids_app_participant_then_group") == "smoke"
    for nodeid in ("tests/e2e/test_nsd_workflow.py::test_nsd_workflow_end_to_end", "tests/test_lint.py::test_x",
                   "tests/test_config.py::test_y[a/b::c]"):
        assert worker_group(nodeid) == nodeid
    e2e = REPO / "tests" / "e2e"
    for name in OWN_WORKER_FILES:
        source = (e2e / name).read_text()  # a renamed file fails here
        assert "smoke_run" not in source and "smoke_results" not in source, name
