"""What the workflow lists as a BIDS stage's inputs (cortexplorer.io.bids.run_files), and the check that a
cached output is whole before a reader is scheduled (cortexplorer.io.check)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from cortexplorer.io.bids import BidsDatasetError, natural_key, parse_bids_name, participants, run_files
from cortexplorer.io.check import DamagedOutputError, check_cached

MNI = "MNI152NLin2009cAsym"


def _touch(root: Path, *names: str) -> None:
    for name in names:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")


def _tree(root: Path, subjects=("01", "02")) -> None:
    _touch(root, "dataset_description.json", "README", "task-main_bold.json",
           "derivatives/fmriprep/dataset_description.json")
    _participants_tsv(root, *subjects)
    for s in subjects:
        _touch(root, f"sub-{s}/anat/sub-{s}_T1w.nii.gz", f"sub-{s}/sub-{s}_task-main_bold.json")
        for ses in ("01", "02"):
            for task, runs in (("main", (1, 2)), ("floc", (1,))):
                for run in runs:
                    base = f"sub-{s}_ses-{ses}_task-{task}_run-{run}"
                    func = f"sub-{s}/ses-{ses}/func"
                    _touch(root, f"{func}/{base}_events.tsv", f"{func}/{base}_bold.json",
                           f"{func}/{base}_bold.nii.gz", f"{func}/{base}_events.json")
                    d = f"derivatives/fmriprep/{func}"
                    _touch(root, f"{d}/{base}_desc-confounds_timeseries.tsv", f"{d}/{base}_desc-confounds_timeseries.json")
                    for space in (f"space-{MNI}_res-2", f"space-{MNI}_res-1", "space-T1w"):
                        _touch(root, f"{d}/{base}_{space}_desc-preproc_bold.nii.gz",
                               f"{d}/{base}_{space}_desc-preproc_bold.json", f"{d}/{base}_{space}_desc-brain_mask.nii.gz",
                               f"{d}/{base}_{space}_boldref.nii.gz")
        _touch(root, f"derivatives/fmriprep/sub-{s}/anat/sub-{s}_desc-brain_mask.nii.gz", f"sub-{s}/ses-01/func/.DS_Store")


def _participants_tsv(root: Path, *labels: str) -> None:
    (root / "participants.tsv").write_text("participant_id\tage\n" + "".join(f"sub-{s}\t30\n" for s in labels))


def _choose(root: Path, warnings: list | None = None, **kw):
    kw = {"tasks": ["main", "floc"], "space": MNI, "res": "2", **kw}
    return participants(root, warn=(warnings.append if warnings is not None else None), **kw)


def test_participants_are_every_subject_folder_in_natural_order(tmp_path):
    _tree(tmp_path, subjects=("10", "02", "3", "01"))
    _participants_tsv(tmp_path, "01", "02", "3", "10")
    said = []
    assert _choose(tmp_path, said) == ["01", "02", "3", "10"]
    assert said == []
    # labels with or without sub-, in any order; the dataset's order is kept
    assert _choose(tmp_path, labels=["sub-10", "02"]) == ["02", "10"]
    assert sorted(["ses-10", "ses-9", "ses-a2", "ses-a10", "1"], key=natural_key) == [
        "1", "ses-9", "ses-10", "ses-a2", "ses-a10"]


def test_a_participant_label_not_in_the_dataset_lists_those_present(tmp_path):
    _tree(tmp_path)
    with pytest.raises(BidsDatasetError, match=r"bids\.participant_label names \['sub-07'\], not in the dataset "
                                               r".*Participants present: \['01', '02'\]"):
        _choose(tmp_path, labels=["01", "sub-07"])


def test_participants_tsv_is_cross_checked_both_ways(tmp_path):
    _tree(tmp_path, subjects=("01", "02"))
    _participants_tsv(tmp_path, "01", "05")
    said = []
    assert _choose(tmp_path, said) == ["01", "02"]
    assert len(said) == 2
    assert "does not list ['sub-02'], which have folders; they are processed" in said[0]
    assert "lists ['sub-05'], which have no folder" in said[1]
    (tmp_path / "participants.tsv").write_text("subject\n01\n")
    with pytest.raises(BidsDatasetError, match=r"participants\.tsv' has no participant_id column"):
        _choose(tmp_path)


def test_a_participant_without_the_task_stops_the_run_or_is_skipped_when_asked(tmp_path):
    _tree(tmp_path, subjects=("01", "02", "03"))
    for f in tmp_path.rglob("sub-02_*task-floc*"):
        f.unlink()
    with pytest.raises(BidsDatasetError, match=r"sub-02 has no events files and preprocessed BOLD \(desc-preproc, "
                                               r"space-MNI152NLin2009cAsym, res-2\) of task 'floc' under .*\(tasks it "
                                               r"has: \['main'\], spaces of its preprocessed BOLD: \["
                                               r"'MNI152NLin2009cAsym-1', 'MNI152NLin2009cAsym-2', 'T1w'\]\)\. "
                                               r".*set bids\.skip_unusable: true"):
        _choose(tmp_path)
    said = []
    assert _choose(tmp_path, said, skip_unusable=True) == ["01", "03"]
    assert said == [said[0]] and "sub-02" in said[0] and "skipped (bids.skip_unusable is true)" in said[0]
    # raw events without fMRIPrep's output: named as the missing preprocessed BOLD alone
    for f in tmp_path.rglob("sub-03_*desc-preproc_bold.nii.gz"):
        f.unlink()
    with pytest.raises(BidsDatasetError, match=r"sub-03 has no preprocessed BOLD \(desc-preproc.*\) of task 'main'"):
        _choose(tmp_path, labels=["03"])
    with pytest.raises(BidsDatasetError, match=r"No usable participant"):
        _choose(tmp_path, [], labels=["02", "03"], skip_unusable=True)


def test_sessions_narrow_the_runs_and_the_participants(tmp_path):
    _tree(tmp_path, subjects=("01", "02"))
    for f in tmp_path.rglob("ses-02"):
        if "sub-02" in str(f):
            import shutil

            shutil.rmtree(f)
    every = set(run_files(tmp_path, subject="01", task="main", space=MNI, res="2"))
    only = set(run_files(tmp_path, subject="01", task="main", space=MNI, res="2", sessions=["02"]))
    # brute force: every listed file that is not in another session's folder and names no other session
    assert only == {p for p in every if "ses-01" not in p}
    # two runs of ses-01, six files each: events, raw sidecar, confounds, preprocessed BOLD, its sidecar, mask
    assert len(only) == len(every) - 2 * 6
    assert _choose(tmp_path, sessions=["ses-01"]) == ["01", "02"]
    with pytest.raises(BidsDatasetError, match=r"sub-02 has no events files and preprocessed BOLD .* of task 'main' in "
                                               r"session\(s\) \['02'\]"):
        _choose(tmp_path, sessions=["ses-02"])


def test_parse_bids_name():
    assert parse_bids_name("sub-01_ses-2_task-x_run-1_space-T1w_desc-preproc_bold.nii.gz") == (
        {"sub": "01", "ses": "2", "task": "x", "run": "1", "space": "T1w", "desc": "preproc"}, "bold", ".nii.gz")
    assert parse_bids_name("task-x_bold.json") == ({"task": "x"}, "bold", ".json")
    assert parse_bids_name("README") == ({}, "README", "")
    assert parse_bids_name("sub_01_bold.json") is None  # not entity-value pairs


def test_run_files_lists_exactly_what_the_reader_may_read(tmp_path):
    _tree(tmp_path)
    got = {str(Path(p).relative_to(tmp_path)) for p in run_files(tmp_path, subject="01", task="main", space=MNI,
                                                                  res="2")}
    expected = {"task-main_bold.json", "sub-01/sub-01_task-main_bold.json"}
    for ses in ("01", "02"):
        for run in (1, 2):
            base = f"sub-01_ses-{ses}_task-main_run-{run}"
            func, d = f"sub-01/ses-{ses}/func", f"derivatives/fmriprep/sub-01/ses-{ses}/func"
            expected |= {f"{func}/{base}_events.tsv", f"{func}/{base}_bold.json",
                         f"{d}/{base}_desc-confounds_timeseries.tsv",
                         f"{d}/{base}_space-{MNI}_res-2_desc-preproc_bold.nii.gz",
                         f"{d}/{base}_space-{MNI}_res-2_desc-preproc_bold.json",
                         f"{d}/{base}_space-{MNI}_res-2_desc-brain_mask.nii.gz"}
    assert got == expected  # 2 inherited sidecars + 4 runs × 6 files; no sub-02, floc, res-1, T1w, anat, raw BOLD
    # without space/res every space's preprocessed BOLD and masks are listed (the reader then asks to choose)
    wide = run_files(tmp_path, subject="01", task="main")
    assert len(wide) == 2 + 4 * (3 + 3 * 3)
    floc = run_files(tmp_path, subject="01", task="floc", space=MNI, res="2")
    assert len(floc) == 2 * 6 and all("task-floc" in p for p in floc)
    assert run_files(tmp_path, subject="03", task="main", space=MNI) == ["/".join([str(tmp_path), "task-main_bold.json"])]


def test_run_files_reads_only_the_subjects_folders(tmp_path, monkeypatch):
    """Listing one subject scans the same folders in a 40-participant dataset as in a 2-participant one
    (the dataset's top level, each pipeline's, and that subject's), so it stays fast on large datasets."""
    import os

    scanned: list[str] = []
    real = os.scandir

    def counting(path):
        scanned.append(os.path.relpath(path, tmp_path).split(os.sep, 1)[1] if os.sep in os.path.relpath(path, tmp_path)
                       else ".")
        return real(path)

    _tree(tmp_path / "small", subjects=("01", "02"))
    _tree(tmp_path / "large", subjects=tuple(f"{i:02d}" for i in range(1, 41)))
    monkeypatch.setattr(os, "scandir", counting)
    run_files(tmp_path / "small", subject="01", task="main", space=MNI, res="2")
    small, scanned[:] = list(scanned), []
    run_files(tmp_path / "large", subject="01", task="main", space=MNI, res="2")
    assert scanned == small and len(small) == 2 + 2 * 5  # 2 top levels; per dataset: sub-01, its 2 sessions and func/
    assert all("sub-02" not in p for p in scanned)


def test_check_cached_names_a_truncated_hdf5_and_the_rule_that_rebuilds_it(tmp_path):
    good = tmp_path / "betas.h5"
    with h5py.File(good, "w") as f:
        f["x"] = np.arange(10_000.0)
    assert check_cached(good, "preprocess") == str(good)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DamagedOutputError, match=r"'.*cut\.h5' is damaged or cut short \(HDF5 cannot open it: .*\)\. "
                                                 r"It is an output of rule preprocess: delete it and run snakemake "
                                                 r"again.*Nothing was run or deleted"):
        check_cached(cut, "preprocess")
    assert check_cached(tmp_path / "not_yet.h5", "preprocess") == str(tmp_path / "not_yet.h5")  # made later


def test_check_cached_names_a_truncated_tsv(tmp_path):
    good = tmp_path / "stimuli.tsv"
    good.write_text("stim_id\tcategory\nimg1\tface\nimg2\tplace\n")
    check_cached(good, "stimuli_folder")
    cut = tmp_path / "cut.tsv"
    cut.write_text("stim_id\tcategory\nimg1\tface\nimg2\tpl")
    with pytest.raises(DamagedOutputError, match=r"'.*cut\.tsv' is damaged or cut short \(its last line has no newline"
                                                 r".*rule stimuli_folder"):
        check_cached(cut, "stimuli_folder")
    short = tmp_path / "short.tsv"
    short.write_text("stim_id\tcategory\nimg1\tface\nimg2\n")
    with pytest.raises(DamagedOutputError, match=r"line\(s\) \[3\] have a different number of fields"):
        check_cached(short, "stimuli_folder")


def test_folder_files_lists_the_visible_files_of_the_folder(tmp_path):
    from cortexplorer.io.check import folder_files

    _touch(tmp_path, "b.png", "a.jpg", "stimuli.tsv", "._a.jpg", ".DS_Store", "sub/c.png")
    assert [Path(p).name for p in folder_files(tmp_path)] == ["a.jpg", "b.png", "stimuli.tsv"]
    _touch(tmp_path, "sub/deeper/d.png", "sub/.e.png", ".hidden/f.png")
    assert [str(Path(p).relative_to(tmp_path)) for p in folder_files(tmp_path, recursive=True)] == [
        "a.jpg", "b.png", "stimuli.tsv", "sub/c.png", "sub/deeper/d.png"]
