"""The BIDS-App command line (cortexplorer.cli): the Snakemake command it builds and the folders it checks.
Running it end to end is tests/e2e/test_bids_app.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cortexplorer import __version__
from cortexplorer.cli import (
    REPO,
    SNAKEFILE,
    UsageError,
    main,
    parser,
    snakemake_command,
    workflow_digest,
    write_description,
)


def _study(tmp_path: Path, stimuli: bool = True) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "My study", "BIDSVersion": "1.9.0"}')
    if stimuli:
        (root / "stimuli").mkdir()
    return root


def _command(*argv: str) -> list[str]:
    args, extra = parser().parse_known_args(list(argv))
    return snakemake_command(args, extra)


def _config_values(cmd: list[str]) -> dict:
    i = cmd.index("--config")
    return {k: json.loads(v) for k, v in (item.split("=", 1) for item in cmd[i + 1:])}


def test_participant_level_runs_this_snakefile_in_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _study(tmp_path)
    (tmp_path / "a.yaml").write_text("braindive: {n_seeds: 8}\n")
    (tmp_path / "b.yaml").write_text("dataset: {name: mystudy}\n")
    cmd = _command(str(root), "out", "participant", "--participant-label", "01", "sub-02", "--session-label",
                   "ses-1", "--configfile", "a.yaml", "b.yaml", "--cores", "4", "--keep-going", "-n")
    assert cmd[:4] == [sys.executable, "-m", "snakemake", "participant"]
    assert cmd[cmd.index("--snakefile") + 1] == str(SNAKEFILE) and SNAKEFILE == REPO / "Snakefile"
    assert cmd[cmd.index("--directory") + 1] == str(tmp_path / "out")
    assert cmd[cmd.index("--cores") + 1] == "4" and "--dry-run" in cmd and "--keep-going" in cmd
    # the user's files in their order, then what the command line says (Snakemake applies --config last)
    i = cmd.index("--configfile")
    assert cmd[i + 1:i + 3] == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    assert cmd.index("--config") > i and cmd.index("--keep-going") < i
    assert _config_values(cmd) == {
        "dataset": {"mode": "bids", "name": "mystudy"},  # the user's name is kept
        "bids": {"root": str(root), "stimuli_dir": str(root / "stimuli"), "participant_label": ["01", "sub-02"],
                 "sessions": ["ses-1"]}}


def test_group_level_and_defaults(tmp_path):
    root, out = _study(tmp_path), tmp_path / "out"
    cmd = _command(str(root), str(out), "participant")
    assert cmd[3] == "participant" and cmd[cmd.index("--cores") + 1] == "all" and "--dry-run" not in cmd
    assert "--configfile" not in cmd
    # every participant and session unless named; the results folder is named after BIDS_DIR
    assert _config_values(cmd) == {"dataset": {"mode": "bids", "name": "study"},
                                   "bids": {"root": str(root), "stimuli_dir": str(root / "stimuli")}}
    # the group level without labels: the participants whose participant level ran here (as MRIQC)
    with pytest.raises(UsageError, match=r"No participant-level results in .*Run the participant level first"):
        _command(str(root), str(out), "group")
    for s in ("10", "02"):
        (out / f"results/study/preprocess/sub-{s}").mkdir(parents=True)
        (out / f"results/study/preprocess/sub-{s}/betas.h5").write_bytes(b"")
    (out / "results/study/preprocess/sub-03").mkdir()  # a participant level that did not finish
    cmd = _command(str(root), str(out), "group", "--profile", "profiles/slurm")
    assert _config_values(cmd)["bids"]["participant_label"] == ["02", "10"]
    assert cmd[cmd.index("--profile") + 1] == str(REPO / "profiles" / "slurm")  # the shipped profile
    assert _config_values(_command(str(root), str(out), "group", "--participant-label", "03"))["bids"][
        "participant_label"] == ["03"]


@pytest.mark.parametrize(("how", "message"), [
    ("missing", r"BIDS_DIR '.*nothere' does not exist"),
    ("no_description", r"BIDS_DIR '.*' has no dataset_description\.json"),
    ("same", r"OUTPUT_DIR '.*' is the BIDS dataset or a folder at its top level"),
    ("no_stimuli", r"No stimulus folder: '.*stimuli' does not exist.*--stimuli-dir DIR"),
])
def test_bad_folders_are_named_with_the_fix(tmp_path, capsys, how, message):
    root = _study(tmp_path, stimuli=how != "no_stimuli")
    if how == "no_description":
        (root / "dataset_description.json").unlink()
    bids = str(tmp_path / "nothere") if how == "missing" else str(root)
    out = str(root) if how == "same" else str(tmp_path / "out")
    assert main([bids, out, "participant"]) == 2
    import re

    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_bad_configfile_is_named_before_snakemake_starts(tmp_path, capsys):
    root = _study(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("braindive:\n  n_seeds: [1\n")
    assert main([str(root), str(tmp_path / "out"), "participant", "--configfile", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err


def test_dataset_description_names_the_pipeline_version_digest_and_source(tmp_path):
    root = _study(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    path = write_description(out, root)
    desc = json.loads(path.read_text())
    assert desc["Name"] == "cortexplorer derivatives of My study" and desc["DatasetType"] == "derivative"
    assert desc["GeneratedBy"][0]["Name"] == "cortexplorer" and desc["GeneratedBy"][0]["Version"] == __version__
    digest = workflow_digest()
    assert len(digest) == 16 and f"sha256:{digest}" in desc["GeneratedBy"][0]["Description"]
    assert desc["SourceDatasets"] == [{"URL": root.resolve().as_uri()}]
    # unchanged content is not rewritten (its time stays)
    before = path.stat().st_mtime_ns
    write_description(out, root)
    assert path.stat().st_mtime_ns == before


def test_workflow_digest_follows_the_code(tmp_path):
    repo = tmp_path / "repo"
    for rel in ("Snakefile", "config/config.yaml", "src/cortexplorer/x.py", "workflow/rules/a.smk"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(rel)
    first = workflow_digest(repo)
    (repo / "README.md").write_text("docs do not count")
    assert workflow_digest(repo) == first
    (repo / "workflow/rules/a.smk").write_text("changed")
    assert workflow_digest(repo) != first
