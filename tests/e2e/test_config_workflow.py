"""A bad configuration stops Snakemake itself before any job is scheduled (the checks: tests/test_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import snakemake


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ("stimuli:\n  n_images: -3\n", "Config key 'stimuli.n_images' must be >= 12; got -3"),
        ("stimuli:\n  n_imagez: 30\n", "Unknown config key 'stimuli.n_imagez'"),
        ("simulate:\n  tr: fast\n", "Config key 'simulate.tr' must be of type number; got 'fast'"),
    ],
)
def test_bad_config_stops_snakemake_before_any_job(workdir: Path, tmp_path, overlay, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay)
    proc = snakemake(workdir, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert message in out
    assert "Job stats" not in out  # nothing was scheduled
