"""The stage runner (cortexplorer.runner): an output folder that cannot take files stops the job before any work."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cortexplorer.runner import run_stage

SMK = SimpleNamespace(log=[], rule="test_rule", threads=1)  # what the runner reads from Snakemake's object


def _stage(calls: list):
    def stage(inputs, outputs, settings):
        calls.append(settings)
        Path(outputs["table"]).write_text("done\n")
    return stage


def test_unwritable_output_folder_stops_before_the_stage_runs(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    calls: list = []
    with pytest.raises(PermissionError, match=r"Cannot write outputs into '.*results/sub-01' .*nothing was computed\. "
                                              r"Make the folder writable"):
        run_stage(SMK, _stage(calls), inputs={}, outputs={"table": str(blocker / "sub-01" / "t.tsv")}, settings=1)
    assert calls == []  # the stage never started


def test_writable_outputs_leave_no_trace_and_the_stage_runs(tmp_path):
    calls: list = []
    out = tmp_path / "a" / "b" / "t.tsv"
    run_stage(SMK, _stage(calls), inputs={}, outputs={"table": str(out), "maps": [str(tmp_path / "m.nii.gz")]},
              settings=7)
    assert calls == [7] and out.read_text() == "done\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # the write check removed its probe file
