"""Edits inside a BIDS dataset rerun exactly the stages that read the edited file (issue 19).

Rules read the files of each run (cortexplorer.io.bids.run_files), not the dataset folder: an edited
events file, image or confounds table reruns what reads it; a file of another subject or task, or one
no stage reads, reruns nothing. A file newer than the outputs but with the content Snakemake recorded
(its checksum, kept for inputs up to 1 MB: events, confounds, sidecars, images) reruns nothing either;
a larger file (BOLD) is judged by its modification time.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cortexplorer.io.bids import TEMPLATE_SPACE

from ..test_preprocess_bids import STIM_IDS, SUBJECT, TASK, _write_tree
from .conftest import dry_run_jobs, snakemake


def _config(tmp: Path, root: Path, stimuli: Path) -> Path:
    cfg = tmp / "edits.yaml"  # its own dataset name: results/edits is not shared with other tests' results/mine
    cfg.write_text(f"dataset: {{name: edits, mode: bids}}\nbids:\n  root: {root}\n  stimuli_dir: {stimuli}\n"
                   f"  participant_label: ['{SUBJECT}']\npreprocess:\n  task: {TASK}\n  space: {TEMPLATE_SPACE}\n"
                   "  confounds: {motion: 6, drift: cosine, compcor: 0}\n"
                   "report:\n  html: reports/edits/index.html\n")
    return cfg


def _images(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for sid in STIM_IDS:
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / f"{sid}.png")


def _pending(proc) -> dict[str, int]:
    """The jobs a dry run would run ({} when there is nothing to do: Snakemake then prints an empty table)."""
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out or re.search(r"^total\s+0$", out, re.M):
        return {}
    return dry_run_jobs(proc)


def _later(path: Path) -> None:
    """Make sure an edit is seen as newer than the outputs (file systems with coarse times)."""
    t = time.time() + 2
    os.utime(path, (t, t))


def test_an_edited_file_reruns_exactly_its_readers(workdir: Path, tmp_path: Path):
    world = _write_tree(tmp_path)
    _images(tmp_path / "stimuli")
    other = world.root / f"sub-02/ses-01/func/sub-02_ses-01_task-{TASK}_run-1_events.tsv"  # another subject
    other.parent.mkdir(parents=True)
    other.write_text("onset\tduration\tstim_id\n1\t3\timg001\n")
    floc = world.root / f"sub-{SUBJECT}/ses-01/func/sub-{SUBJECT}_ses-01_task-floc_run-1_events.tsv"  # another task
    floc.write_text("onset\tduration\ttrial_type\n1\t3\tface\n")
    cfg = str(_config(tmp_path, world.root, tmp_path / "stimuli"))
    until = ("--configfile", cfg, "--until", "preprocess")
    snakemake(workdir, "--cores", "1", *until)
    assert _pending(snakemake(workdir, "-n", *until)) == {}
    full = dry_run_jobs(snakemake(workdir, "-n", "--configfile", cfg))
    assert "preprocess" not in full and "stimuli_folder" not in full

    for untouched in (other, floc, world.root / "README"):  # files preprocess does not read
        untouched.write_text(untouched.read_text() + "\n" if untouched.exists() else "notes\n")
        _later(untouched)
    proc = snakemake(workdir, "-n", *until)
    assert _pending(proc) == {}, proc.stdout[-3000:]

    events = world.path("01", 2, "events")
    table = pd.read_csv(events, sep="\t")
    table["onset"] += 1.0  # the lab fixes its onsets
    table.to_csv(events, sep="\t", index=False, na_rep="n/a")
    _later(events)
    after = dry_run_jobs(snakemake(workdir, "-n", "--configfile", cfg))
    assert after == {**full, "preprocess": 1}  # only this subject's preprocess is added to what was pending
    snakemake(workdir, "--cores", "1", *until)

    confounds = world.path("02", 1, "confounds")
    confounds.write_text(confounds.read_text())  # rewritten unchanged: Snakemake's checksum of small inputs
    _later(confounds)
    proc = snakemake(workdir, "-n", *until)
    assert _pending(proc) == {}, proc.stdout[-3000:]
    table = pd.read_csv(confounds, sep="\t")
    table.loc[10, "trans_x"] += 0.5  # one value edited
    table.to_csv(confounds, sep="\t", index=False, na_rep="n/a")
    _later(confounds)
    assert _pending(snakemake(workdir, "-n", *until)) == {"preprocess": 1}
    snakemake(workdir, "--cores", "1", *until)

    image = tmp_path / "stimuli" / f"{STIM_IDS[3]}.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(image)  # an image replaced in place
    _later(image)
    assert _pending(snakemake(workdir, "-n", *until)) == {"stimuli_folder": 1, "preprocess": 1}

    # a cached output cut short stops the DAG before any job, naming it and the rule that rebuilds it
    betas = workdir / "results/edits/preprocess/sub-01/betas.h5"
    betas.write_bytes(betas.read_bytes()[:5000])
    proc = snakemake(workdir, "-n", "--configfile", cfg, check=False)
    assert proc.returncode != 0
    assert re.search(r"'results/edits/preprocess/sub-01/betas\.h5' is damaged or cut short .*It is an output of "
                     r"rule preprocess: delete it and run snakemake again", proc.stdout + proc.stderr)
    table = workdir / "results/edits/stimuli/stimuli.tsv"
    table.write_text(table.read_text()[:-7])
    proc = snakemake(workdir, "-n", *until, check=False)
    assert proc.returncode != 0
    assert re.search(r"'results/edits/stimuli/stimuli\.tsv' is damaged or cut short \(its last line has no newline.*"
                     r"rule stimuli_folder", proc.stdout + proc.stderr)
    shutil.rmtree(workdir / "results/edits")  # the session's shared repo copy keeps no damaged outputs


def _empty_tree(root: Path, n_participants: int) -> int:
    """A dataset of ``n_participants`` × 2 sessions × 6 runs × 2 tasks of empty files (sidecars hold {})."""
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "many", "BIDSVersion": "1.9.0"}')
    n_files = 0
    for s in range(1, n_participants + 1):
        for ses in (1, 2):
            for run in range(1, 7):
                for task in ("nsd", "floc"):
                    base = f"sub-{s:02d}_ses-{ses:02d}_task-{task}_run-{run:02d}"
                    raw = root / f"sub-{s:02d}/ses-{ses:02d}/func"
                    der = root / f"derivatives/fmriprep/sub-{s:02d}/ses-{ses:02d}/func"
                    for folder, names in ((raw, ["events.tsv", "bold.json", "bold.nii.gz"]),
                                          (der, ["space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz",
                                                 "space-MNI152NLin2009cAsym_desc-preproc_bold.json",
                                                 "space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz",
                                                 "desc-confounds_timeseries.tsv"])):
                        folder.mkdir(parents=True, exist_ok=True)
                        for name in names:
                            (folder / f"{base}_{name}").write_text("{}" if name.endswith(".json") else "")
                            n_files += 1
    return n_files


def test_a_many_participant_tree_plans_fast_and_is_indexed_once(workdir: Path, tmp_path: Path, capsys):
    """The DAG of a 20-participant dataset of empty files builds in seconds, one subject-level job per
    participant (every sub-* folder by default, issue 21); bids.participant_label narrows it. The dataset is
    indexed by the first job that reads it, once; the next job loads that index (issue 21 item 4)."""
    root = tmp_path / "bids"
    n_files = _empty_tree(root, 20)
    (tmp_path / "stimuli").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "stimuli" / "img001.png")
    cfg = tmp_path / "many.yaml"
    cfg.write_text(f"dataset: {{name: many, mode: bids}}\nbids:\n  root: {root}\n  stimuli_dir: {tmp_path}/stimuli\n"
                   "preprocess: {space: MNI152NLin2009cAsym}\nreport:\n  html: reports/many/index.html\n")
    t0 = time.perf_counter()
    proc = snakemake(workdir, "-n", "--configfile", str(cfg), "--until", "rois")
    seconds = time.perf_counter() - t0
    assert dry_run_jobs(proc) == {"stimuli_folder": 1, "preprocess": 20, "rois": 20}
    assert "BIDS index" not in proc.stdout + proc.stderr  # building the DAG indexes nothing
    two = snakemake(workdir, "-n", "--configfile", str(cfg), "--config", "bids={participant_label: [sub-03, '17']}",
                    "--until", "rois")
    assert dry_run_jobs(two) == {"stimuli_folder": 1, "preprocess": 2, "rois": 2}

    # one job, then another: the first indexes the dataset, the second loads its index (both then stop at the
    # empty BOLD files, which is not what this counts)
    logs = []
    for s in ("01", "02"):
        target = f"results/many/preprocess/sub-{s}/betas.h5"
        snakemake(workdir, target, "--cores", "1", "--configfile", str(cfg), check=False)
        logs.append((workdir / f"logs/many/preprocess_sub-{s}.log").read_text())
    built = [log.count("BIDS index: built") for log in logs]
    loaded = [log.count("BIDS index: loaded") for log in logs]
    assert built == [1, 0] and loaded == [0, 1], logs

    big = tmp_path / "bids100"
    n_big = _empty_tree(big, 100)
    cfg100 = tmp_path / "many100.yaml"
    cfg100.write_text(cfg.read_text().replace(str(root), str(big)))
    t0 = time.perf_counter()
    jobs = dry_run_jobs(snakemake(workdir, "-n", "--configfile", str(cfg100), "--until", "rois"))
    seconds_100 = time.perf_counter() - t0
    assert jobs == {"preprocess": 100, "rois": 100}  # the stimuli were imported above
    with capsys.disabled():
        print(f"\n  snakemake -n (Snakemake start included): {seconds:.1f} s for 20 participants ({n_files} files), "
              f"{seconds_100:.1f} s for 100 ({n_big} files)")
    shutil.rmtree(workdir / "results/many")  # the session's shared repo copy keeps no failed outputs
