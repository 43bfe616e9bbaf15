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
