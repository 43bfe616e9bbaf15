"""The BIDS reader (``preprocess.bids_input``) and ``load_bold_runs`` on a small fMRIPrep-style tree.

The tree is written once per module with planted, known data: 2 sessions × 2 runs of task
``nsd`` on a 6×6×5 grid, 80 volumes at TR 2 s, ``StartTime`` 1 s (slice-time corrected), a brain
mask, fMRIPrep-like confounds (motion with derivatives whose first row is ``n/a``, FD, a
different number of ``cosineXX`` columns per run, aCompCor) and events with one ``n/a`` row.
BOLD = S0 · (1 + (trials·betas + cosine drift + motion artefact) / 100) + small noise, so the
single-trial betas in % signal change at the HRF peak are known. A second space (``T1w``, on
another grid with another ``StartTime``) sits next to the template-space files.

Tests that damage the tree work on a copy (``shutil.copytree``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cortexplorer.config import check_config
from cortexplorer.io.bids import TEMPLATE_SPACE, bids_path, write_dataset_description
from cortexplorer.io.tables import read_tsv, write_json, write_tsv
from cortexplorer.preprocess import bids_input as bi
from cortexplorer.preprocess.hrf import canonical_hrf, hrf_time, trial_regressors
from cortexplorer.preprocess.recipe import RecipeSettings, fit_recipe
from cortexplorer.preprocess.stage import drop_late_trials, load_bold_runs, nuisance_matrix

SUBJECT, TASK = "01", "nsd"
SHAPE = (6, 6, 5)
AFFINE = np.array([[2.0, 0, 0, -6], [0, 2.0, 0, -8], [0, 0, 2.0, -4], [0, 0, 0, 1]])
N_VOL, TR, START_TIME = 80, 2.0, 1.0
RUNS = [("01", 1), ("01", 2), ("02", 1), ("02", 2)]
N_COSINE = {("01", 1): 3, ("01", 2): 4, ("02", 1): 5, ("02", 2): 2}  # differs per run, as in fMRIPrep
N_ACOMPCOR = 3
N_TRIALS, DURATION = 12, 3.0
STIM_IDS = [f"img{i:03d}" for i in range(1, 11)]
NOISE_PSC = 0.01  # noise SD in % of S0
STRATEGY = {"motion": 6, "drift": "cosine", "compcor": 0}
OTHER_SPACE, OTHER_SHAPE, OTHER_START = "T1w", (5, 5, 4), 0.5
LOG = "cortexplorer.preprocess"


def recipe_settings(**changes) -> RecipeSettings:
    """The recipe of the schema's defaults, with ``changes``."""
    defaults = check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": 0})
    return dataclasses.replace(RecipeSettings.from_config(defaults), **changes)



@dataclass
class World:
    root: Path  # the BIDS root (raw dataset; fMRIPrep output in derivatives/fmriprep)
    stimuli: Path  # stimuli.tsv with stim_id
    mask: np.ndarray  # SHAPE bool, the brain mask
    events: dict  # (ses, run) -> the events table as written (with the n/a row)
    trials: dict  # (ses, run) -> the trial rows (stim_id not n/a)
    expected: dict  # (ses, run) -> trials × brain voxels: the planted betas in % of the run mean
    clean_mean: np.ndarray  # brain voxels: mean over runs of each run's noiseless mean intensity

    @property
    def deriv(self) -> Path:
        return self.root / "derivatives" / "fmriprep"

    def path(self, ses: str, run: int, kind: str, root: Path | None = None, space: str = TEMPLATE_SPACE) -> Path:
        """A file of the tree (``root`` for a copy): bold, bold_json, mask, confounds or events."""
        root = self.root if root is None else root
        deriv = root / "derivatives" / "fmriprep"
        ent = dict(sub=SUBJECT, ses=ses, task=TASK, run=run)
        if kind in ("bold", "bold_json"):
            ext = ".nii.gz" if kind == "bold" else ".json"
            return bids_path(deriv, **ent, space=space, desc="preproc", suffix="bold", extension=ext)
        if kind == "mask":
            return bids_path(deriv, **ent, space=space, desc="brain", suffix="mask", extension=".nii.gz")
        if kind == "confounds":
            return bids_path(deriv, **ent, desc="confounds", suffix="timeseries", extension=".tsv")
        if kind == "events":
            return bids_path(root, **ent, suffix="events", extension=".tsv")
        raise KeyError(kind)

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.root, dest)
        return dest


def _save_bold(data: np.ndarray, affine: np.ndarray, path: Path, tr: float = TR, unit: str = "sec") -> None:
    img = nib.Nifti1Image(data.astype(np.float32), affine)
    img.header.set_xyzt_units("mm", unit)
    img.header.set_zooms((*img.header.get_zooms()[:3], tr))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.to_filename(path)


def _cosines(n_vol: int, k: int) -> np.ndarray:
    """fMRIPrep's DCT-II high-pass basis (zero-mean columns)."""
    t = np.arange(n_vol)
    return np.column_stack([np.sqrt(2 / n_vol) * np.cos(np.pi * (2 * t + 1) * (j + 1) / (2 * n_vol))
                            for j in range(k)])


def _confounds(rng: np.random.Generator, k_cos: int) -> pd.DataFrame:
    motion = np.column_stack([rng.normal(0, 0.05, N_VOL).cumsum() for _ in range(3)]
                             + [rng.normal(0, 0.001, N_VOL).cumsum() for _ in range(3)])
    motion = np.round(motion, 6)
    table = {}
    for name, col in zip(bi.MOTION, motion.T, strict=True):
        d1 = np.r_[np.nan, np.diff(col)]
        table |= {name: col, f"{name}_derivative1": d1, f"{name}_power2": col**2, f"{name}_derivative1_power2": d1**2}
    d = np.abs(np.diff(motion, axis=0))
    table["framewise_displacement"] = np.r_[np.nan, d[:, :3].sum(1) + 50 * d[:, 3:].sum(1)]
    table["csf"] = rng.normal(0, 1, N_VOL)
    table |= {f"cosine{j:02d}": c for j, c in enumerate(_cosines(N_VOL, k_cos).T)}
    table |= {f"a_comp_cor_{j:02d}": rng.normal(0, 0.1, N_VOL) for j in range(N_ACOMPCOR)}
    return pd.DataFrame(table)


def _write_tree(base: Path) -> World:
    rng = np.random.default_rng(20240611)
    root = base / "bids"
    deriv = root / "derivatives" / "fmriprep"
    write_dataset_description(root, "cortexplorer test dataset")
    write_dataset_description(deriv, "fMRIPrep-style derivatives (test)", derivative_of="../../",
                              generated_by="fMRIPrep")
    write_json({"TaskName": TASK, "RepetitionTime": TR}, root / f"task-{TASK}_bold.json")
    stimuli = base / "stimuli.tsv"
    write_tsv(pd.DataFrame({"stim_id": STIM_IDS, "image": [f"{s}.png" for s in STIM_IDS]}), stimuli)

    mask = np.zeros(SHAPE, bool)
    mask[1:5, 1:5, :] = True  # 80 brain voxels; outside it the "BOLD" is positive noise that must not be read
    n_brain = int(mask.sum())
    s0 = rng.uniform(800, 1200, n_brain)
    canon = canonical_hrf(hrf_time())[None]
    world = World(root=root, stimuli=stimuli, mask=mask, events={}, trials={}, expected={},
                  clean_mean=np.zeros(n_brain))
    for ses, run in RUNS:
        onsets = np.round(6.0 + 12.0 * np.arange(N_TRIALS) + rng.uniform(0, 2, N_TRIALS), 3)
        trials = pd.DataFrame({"onset": onsets, "duration": DURATION, "trial_type": "image",
                               "stim_id": rng.choice(STIM_IDS, N_TRIALS)})
        response = pd.DataFrame({"onset": [onsets[5] + 4.0], "duration": [0.5], "trial_type": ["response"],
                                 "stim_id": [np.nan]})  # fixation/response rows: stim_id n/a
        events = pd.concat([trials, response]).sort_values("onset", kind="stable").reset_index(drop=True)
        ent = dict(sub=SUBJECT, ses=ses, task=TASK, run=run)
        events_path = bids_path(root, **ent, suffix="events", extension=".tsv")
        events_path.parent.mkdir(parents=True, exist_ok=True)
        write_tsv(events, events_path)

        conf = _confounds(rng, N_COSINE[ses, run])
        betas = rng.uniform(0.5, 3.0, (N_TRIALS, n_brain))  # % signal change at the HRF peak
        x = trial_regressors(canon, onsets, np.full(N_TRIALS, DURATION), N_VOL, TR, START_TIME, DURATION)[0]
        cos = conf.filter(like="cosine").to_numpy()
        drift = cos @ rng.normal(0, 10, (cos.shape[1], n_brain))  # zero-mean, spanned by this run's cosines
        trans_x = conf["trans_x"].to_numpy()
        artefact = np.outer(trans_x - trans_x.mean(), rng.normal(0, 2, n_brain))  # % per mm, spanned by trans_x
        clean = s0 * (1 + (x @ betas + drift + artefact) / 100)
        bold = rng.uniform(300, 600, (*SHAPE, N_VOL))
        bold[mask] = (clean + rng.normal(0, NOISE_PSC / 100, clean.shape) * s0).T
        # the pipeline scales by each run's own mean, so the betas it should find are in % of that mean
        world.expected[ses, run] = betas * s0 / clean.mean(0)
        world.clean_mean += clean.mean(0) / len(RUNS)
        world.events[ses, run], world.trials[ses, run] = events, trials

        preproc = world.path(ses, run, "bold")
        _save_bold(bold, AFFINE, preproc)
        write_json({"RepetitionTime": TR, "StartTime": START_TIME, "SliceTimingCorrected": True,
                    "SkullStripped": True, "TaskName": TASK}, world.path(ses, run, "bold_json"))
        nib.Nifti1Image(mask.astype(np.uint8), AFFINE).to_filename(world.path(ses, run, "mask"))
        write_tsv(conf, world.path(ses, run, "confounds"))
        # the same run in a second space, on another grid and with another StartTime
        other_aff = np.diag([2.4, 2.4, 2.4, 1.0])
        _save_bold(rng.uniform(900, 1100, (*OTHER_SHAPE, N_VOL)), other_aff,
                   world.path(ses, run, "bold", space=OTHER_SPACE))
        write_json({"RepetitionTime": TR, "StartTime": OTHER_START, "TaskName": TASK},
                   world.path(ses, run, "bold_json", space=OTHER_SPACE))
        nib.Nifti1Image(np.ones(OTHER_SHAPE, np.uint8), other_aff).to_filename(
            world.path(ses, run, "mask", space=OTHER_SPACE))
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return _write_tree(tmp_path_factory.mktemp("bids_world"))


@pytest.fixture(scope="module")
def runs(world) -> list[bi.BoldRun]:
    return bi.find_runs(world.root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE)


def _known(world: World) -> set[str]:
    return set(read_tsv(world.stimuli, required=["stim_id"])["stim_id"])


def _load(world: World, root: Path, **kw):
    return load_bold_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, confounds=STRATEGY,
                          known_stim_ids=_known(world), **kw)


def _names(path: Path, problem: str) -> str:
    """A ``match`` pattern: the message quotes ``path`` and then states ``problem`` (a regex)."""
    return re.escape(f"'{path}'") + ".*" + problem


# ----------------------------------------------------------------------------------------------
# 1. finding runs


def test_find_runs_matches_files_by_entities_and_reads_timing(world, runs):
    assert [(r.session, r.run) for r in runs] == RUNS
    assert [r.label for r in runs] == ["sub-01_ses-01_task-nsd_run-01", "sub-01_ses-01_task-nsd_run-02",
                                       "sub-01_ses-02_task-nsd_run-01", "sub-01_ses-02_task-nsd_run-02"]
    for r, (ses, run) in zip(runs, RUNS, strict=True):
        assert (r.subject, r.task) == (SUBJECT, TASK)
        assert r.tr == TR
        assert r.start_time == START_TIME  # from the derivatives sidecar, not the raw one (which has none)
        assert r.bold == world.path(ses, run, "bold")
        assert r.mask == world.path(ses, run, "mask")
        assert r.confounds == world.path(ses, run, "confounds")
        assert r.events == world.path(ses, run, "events")

    # the second space is picked up only when asked for, with its own sidecar and mask
    other = bi.find_runs(world.root, subject=SUBJECT, task=TASK, space=OTHER_SPACE)
    assert [(r.session, r.run) for r in other] == RUNS
    assert all(r.start_time == OTHER_START for r in other)
    assert [r.bold for r in other] == [world.path(s, n, "bold", space=OTHER_SPACE) for s, n in RUNS]
    assert [r.mask for r in other] == [world.path(s, n, "mask", space=OTHER_SPACE) for s, n in RUNS]
    assert [r.confounds for r in other] == [r.confounds for r in runs]  # confounds carry no space

    # without a space the two spaces are ambiguous: an error, not a silent mix of grids
    with pytest.raises(bi.BidsInputError, match=r"preprocessed BOLD in 2 spaces .*set preprocess.space"):
        bi.find_runs(world.root, subject=SUBJECT, task=TASK, space=None)
    with pytest.raises(bi.BidsInputError, match=r"No preprocessed BOLD .*task-floc.*Available tasks: \['nsd'\]"):
        bi.find_runs(world.root, subject=SUBJECT, task="floc", space=TEMPLATE_SPACE)


def test_find_runs_needs_a_bids_root_and_warns_without_start_time(world, tmp_path, caplog):
    with pytest.raises(bi.BidsInputError, match=_names(world.deriv / "sub-01", "is not a BIDS dataset")):
        bi.find_runs(world.deriv / "sub-01", subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE)
    root = world.copy(tmp_path / "bids")
    sidecar = world.path("01", 2, "bold_json", root=root)
    write_json({"RepetitionTime": TR, "TaskName": TASK}, sidecar)
    with caplog.at_level(logging.WARNING, logger=LOG):
        found = bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE)
    assert [r.start_time for r in found] == [START_TIME, 0.0, START_TIME, START_TIME]
    assert any(world.path("01", 2, "bold").name in m and "no StartTime" in m for m in caplog.messages)


# ----------------------------------------------------------------------------------------------
# 2. confounds


def test_load_confounds_motion_strategies_and_na_handling(runs, caplog):
    r = runs[0]
    table = pd.read_csv(r.confounds, sep="\t", na_values=["n/a"], keep_default_na=False)
    base = {"drift": "none", "compcor": 0}
    six = bi.load_confounds(r, N_VOL, {**base, "motion": 6})
    assert list(six.columns) == list(bi.MOTION)
    np.testing.assert_array_equal(six.to_numpy(), table[list(bi.MOTION)].to_numpy())

    with caplog.at_level(logging.INFO, logger=LOG):
        twelve = bi.load_confounds(r, N_VOL, {**base, "motion": 12})
    d1 = [f"{m}_derivative1" for m in bi.MOTION]
    assert list(twelve.columns) == [*bi.MOTION, *d1]
    assert (twelve.loc[0, d1] == 0).all() and not twelve.isna().any().any()
    np.testing.assert_array_equal(twelve.loc[1:, d1].to_numpy(), table.loc[1:, d1].to_numpy())
    rec = [x for x in caplog.records if "n/a value(s)" in x.getMessage()]
    assert len(rec) == 1 and rec[0].levelno == logging.INFO  # only fMRIPrep's first row: info, not a warning
    assert r.confounds.name in rec[0].getMessage() and "6 n/a value(s)" in rec[0].getMessage()
    assert "(0 after the first row)" in rec[0].getMessage()

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOG):
        full = bi.load_confounds(r, N_VOL, {**base, "motion": 24, "columns": ["framewise_displacement"]})
    assert full.shape == (N_VOL, 25)
    assert set(full.columns[:24]) == {f"{m}{s}" for m in bi.MOTION
                                      for s in ("", "_derivative1", "_power2", "_derivative1_power2")}
    assert full.loc[0, "framewise_displacement"] == 0
    assert any("13 n/a value(s)" in m for m in caplog.messages)  # 6 derivatives, 6 of their squares, FD

    with pytest.raises(bi.BidsInputError, match=_names(r.confounds, r"lacks the confound column\(s\) \['dvars'\]")):
        bi.load_confounds(r, N_VOL, {**base, "motion": 6, "columns": ["dvars"]})


def test_load_confounds_cosine_drift_is_per_run_and_compcor_is_checked(runs):
    for r in runs:
        k = N_COSINE[r.session, r.run]
        got = bi.load_confounds(r, N_VOL, {"motion": 0, "drift": "cosine", "compcor": 0})
        assert list(got.columns) == [f"cosine{j:02d}" for j in range(k)]
        np.testing.assert_allclose(got.to_numpy(), _cosines(N_VOL, k), atol=1e-6)
        nuis = nuisance_matrix(r, N_VOL, STRATEGY)  # constant + 6 motion + this run's cosines
        assert nuis.shape == (N_VOL, 1 + 6 + k)
    assert len({N_COSINE[r.session, r.run] for r in runs}) > 1

    two = bi.load_confounds(runs[0], N_VOL, {"motion": 0, "drift": "none", "compcor": 2})
    assert list(two.columns) == ["a_comp_cor_00", "a_comp_cor_01"]
    with pytest.raises(bi.BidsInputError,
                       match=_names(runs[0].confounds, "compcor asks for 5 a_comp_cor columns but the table has 3")):
        bi.load_confounds(runs[0], N_VOL, {"motion": 0, "drift": "none", "compcor": 5})


def test_load_confounds_warns_about_na_after_the_first_row(runs, tmp_path, caplog):
    r = runs[1]
    table = read_tsv(r.confounds)
    table.loc[10, "trans_y"] = np.nan
    bad = tmp_path / r.confounds.name
    write_tsv(table, bad)
    with caplog.at_level(logging.INFO, logger=LOG):
        got = bi.load_confounds(dataclasses.replace(r, confounds=bad), N_VOL,
                                {"motion": 12, "drift": "none", "compcor": 0})
    assert got.loc[10, "trans_y"] == 0 and got.loc[0, "trans_y_derivative1"] == 0
    rec = [x for x in caplog.records if "n/a value(s)" in x.getMessage()]
    assert len(rec) == 1 and rec[0].levelno == logging.WARNING
    assert "7 n/a value(s)" in rec[0].getMessage() and "(1 after the first row)" in rec[0].getMessage()


# ----------------------------------------------------------------------------------------------
# 3. end to end: planted betas back


def test_load_bold_runs_recovers_planted_betas_in_percent_signal_change(world, caplog):
    with caplog.at_level(logging.INFO, logger=LOG):
        data, info = _load(world, world.root)
    assert len(data) == 4
    assert [(d.session, d.run) for d in data] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(d.tr == TR and d.start_time == START_TIME for d in data)
    np.testing.assert_array_equal(info["voxel_ijk"], np.argwhere(world.mask))  # the mask, in C order
    assert info["n_excluded_voxels"] == 0 and info["shape"] == SHAPE
    np.testing.assert_allclose(info["affine"], AFFINE)
    np.testing.assert_allclose(info["mean_intensity"], world.clean_mean, rtol=1e-3)
    for d, key in zip(data, RUNS, strict=True):
        trials = world.trials[key]
        np.testing.assert_array_equal(d.onsets, trials["onset"])  # the n/a row is not a trial
        np.testing.assert_array_equal(d.durations, trials["duration"])
        np.testing.assert_array_equal(d.conditions, trials["stim_id"])
        assert d.nuisance.shape == (N_VOL, 1 + 6 + N_COSINE[key])
        # percent signal change about the run's own mean, computed here from the file
        raw = np.asanyarray(nib.load(world.path(*key, "bold")).dataobj)[world.mask].T.astype(np.float64)
        np.testing.assert_allclose(d.data, 100 * (raw / raw.mean(0) - 1), atol=1e-3)
    assert any("sub-01_ses-02_task-nsd_run-01: 80 volumes, 12 trials, 12 nuisance columns" in m
               for m in caplog.messages)

    settings = recipe_settings(hrf="canonical", noise_pcs=0, fracridge=False)
    got = fit_recipe(data, settings, info["mean_intensity"]).final
    expected = np.concatenate([world.expected[k] for k in RUNS])
    # Tolerance: the noise SD is 0.01 % of S0 and a trial regressor (peak 1, trials 12 s apart) leaves a beta with
    # a standard error of about that size (measured SD of got − expected: 0.010 %, largest of 3840 errors: 0.036 %).
    # 0.1 % is 10 SE, yet 3–20 % of the planted betas (0.5–3 %). Measured on this tree: dropping StartTime misses
    # by up to 0.8 %, leaving out the confounds by 12 %, a missing ×100 by ~99 % — all far outside. The reference
    # is the planted beta in % of the run's mean intensity (what the pipeline scales by); it differs from
    # beta·S0-based % by < 1 %, so the slope check pins the scale too.
    err = np.abs(got - expected)
    assert err.max() < 0.1, err.max()
    assert np.median(err) < 0.02
    slope = float((got * expected).sum() / (expected**2).sum())
    assert abs(slope - 1) < 0.005

    shifted = fit_recipe([dataclasses.replace(d, start_time=0.0) for d in data], settings).final
    assert np.abs(shifted - expected).max() > 0.1  # StartTime matters at this tolerance
    bare = fit_recipe([dataclasses.replace(d, nuisance=d.nuisance[:, :1]) for d in data], settings).final
    assert np.abs(bare - expected).max() > 0.1  # so do the confounds (drift and motion artefact planted)


# ----------------------------------------------------------------------------------------------
# 4. bad inputs, each named with its file


def test_bold_that_is_not_4d_is_an_error(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("02", 1, "bold", root=root)
    img = nib.load(path)
    nib.Nifti1Image(img.get_fdata().mean(-1).astype(np.float32), img.affine).to_filename(path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"is 3-D \(shape \(6, 6, 5\)\); a BOLD run must be 4-D")):
        _load(world, root)


def test_sidecar_tr_must_match_the_nifti_header(world, runs, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("01", 2, "bold", root=root)
    _save_bold(np.asanyarray(nib.load(path).dataobj), AFFINE, path, tr=2.5)
    problem = "RepetitionTime in the JSON sidecar is 2.0 s but the NIfTI header says 2.5 s"
    with pytest.raises(bi.BidsInputError, match=_names(path, problem)):
        _load(world, root)
    # the header's time unit is honoured: 2000 ms is the sidecar's 2 s
    msec = tmp_path / "msec_bold.nii.gz"
    _save_bold(np.asanyarray(nib.load(runs[0].bold).dataobj), AFFINE, msec, tr=2000.0, unit="msec")
    assert bi.load_bold(dataclasses.replace(runs[0], bold=msec)).shape == (*SHAPE, N_VOL)


def test_events_past_the_end_of_the_run_are_an_error(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("02", 2, "events", root=root)
    late = pd.DataFrame({"onset": [170.0], "duration": [DURATION], "trial_type": ["image"], "stim_id": ["img001"]})
    write_tsv(pd.concat([world.events["02", 2], late]), path)
    with pytest.raises(bi.BidsInputError,
                       match=_names(path, r"1 event\(s\) start at or after the end of the run \(first at 170.0 s; "
                                          r"the run has 80 volumes × 2.0 s = 160.0 s\)")):
        _load(world, root)


def test_stim_id_without_an_image_is_an_error(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("01", 1, "events", root=root)
    events = world.events["01", 1].copy()
    events.loc[3, "stim_id"] = "img999"
    write_tsv(events, path)
    problem = r"names 1 stim_id\(s\) with no image in the stimulus table, e.g. \['img999'\]"
    with pytest.raises(bi.BidsInputError, match=_names(path, problem)):
        _load(world, root)


def test_confounds_with_a_different_number_of_rows_are_an_error(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("02", 1, "confounds", root=root)
    write_tsv(read_tsv(path).iloc[:-1], path)
    bold_name = world.path("02", 1, "bold").name
    problem = re.escape(f"has 79 rows but '{bold_name}' has 80 volumes")
    with pytest.raises(bi.BidsInputError, match=_names(path, problem)):
        _load(world, root)


def test_nan_constant_and_nonpositive_voxels_are_left_out_and_counted(world, tmp_path, caplog):
    root = world.copy(tmp_path / "bids")
    path = world.path("01", 2, "bold", root=root)
    bold = np.asanyarray(nib.load(path).dataobj).copy()
    bad = [(1, 1, 0), (2, 3, 4), (4, 2, 2)]  # brain voxels: NaN at one volume, constant, ≤ 0 at one volume
    bold[bad[0]][17] = np.nan
    bold[bad[1]] = 1000.0
    bold[bad[2]][40] = 0.0
    bold[0, 0, 0][5] = np.nan  # outside the mask: not read, not counted
    _save_bold(bold, AFFINE, path)
    with caplog.at_level(logging.WARNING, logger=LOG):
        data, info = _load(world, root)
    keep = [tuple(v) not in bad for v in np.argwhere(world.mask)]
    np.testing.assert_array_equal(info["voxel_ijk"], np.argwhere(world.mask)[keep])
    assert info["n_excluded_voxels"] == 3
    assert all(d.data.shape == (N_VOL, 77) and np.isfinite(d.data).all() for d in data)
    assert any("3 of 80 brain voxels are NaN, non-positive or constant" in m for m in caplog.messages)


def test_runs_without_trials_are_left_out_and_all_empty_is_an_error(world, tmp_path, caplog):
    root = world.copy(tmp_path / "bids")
    empty = world.events["01", 2].assign(stim_id=np.nan)
    write_tsv(empty, world.path("01", 2, "events", root=root))
    with caplog.at_level(logging.WARNING, logger=LOG):
        data, info = _load(world, root)
    assert [(d.session, d.run) for d in data] == [(1, 1), (2, 1), (2, 2)]
    assert [(r.session, r.run) for r in info["runs"]] == [("01", 1), ("02", 1), ("02", 2)]
    assert any("sub-01_ses-01_task-nsd_run-02: no trials with an image; the run is left out" in m
               for m in caplog.messages)
    got = fit_recipe(data, recipe_settings(hrf="canonical", noise_pcs=0, fracridge=False)).final
    expected = np.concatenate([world.expected[k] for k in RUNS if k != ("01", 2)])
    assert np.abs(got - expected).max() < 0.1

    for ses, run in RUNS:
        write_tsv(world.events[ses, run].assign(stim_id=np.nan), world.path(ses, run, "events", root=root))
    with pytest.raises(bi.BidsInputError, match="No run of task 'nsd' for sub-01 has any trial with a stim_id"):
        _load(world, root)


# ----------------------------------------------------------------------------------------------
# 5. events


def test_load_events_drops_na_stim_rows_and_needs_a_stim_id_column(world, runs, tmp_path, caplog):
    r = runs[2]
    with caplog.at_level(logging.INFO, logger=LOG):
        ev = bi.load_events(r, N_VOL, _known(world))
    trials = world.trials["02", 1]
    assert len(world.events["02", 1]) == N_TRIALS + 1 and len(ev) == N_TRIALS
    np.testing.assert_array_equal(ev["onset"], trials["onset"])
    assert list(ev["stim_id"]) == list(trials["stim_id"]) and ev["stim_id"].notna().all()
    assert any(f"{r.events.name}: 1 event(s) with stim_id n/a are not modelled (trial_type counts" in m
               for m in caplog.messages)

    no_stim = tmp_path / r.events.name
    write_tsv(world.events["02", 1].drop(columns="stim_id"), no_stim)
    with pytest.raises(bi.BidsInputError, match=_names(no_stim, "has no 'stim_id' column naming each trial's image")):
        bi.load_events(dataclasses.replace(r, events=no_stim), N_VOL, _known(world))


def test_trials_too_close_to_the_end_are_left_out_with_a_warning(world, tmp_path, caplog):
    """A trial 1.5 s before the end has a regressor of ~1e-5 of a normal one: its beta would be ~1e4
    and wreck the session's z-scores; it is left out and named in the log."""
    root = world.copy(tmp_path / "bids")
    path = world.path("02", 2, "events", root=root)
    late = pd.DataFrame({"onset": [158.5], "duration": [DURATION], "trial_type": ["image"], "stim_id": ["img001"]})
    write_tsv(pd.concat([world.events["02", 2], late]), path)
    with caplog.at_level(logging.WARNING, logger=LOG):
        data, _ = _load(world, root)
    assert any("1 trial(s) too close to the end of the run" in m and "[158.5]" in m for m in caplog.messages)
    assert len(data[3].onsets) == len(world.events["02", 2].dropna(subset=["stim_id"]))
    got = fit_recipe(data, recipe_settings(hrf="canonical", noise_pcs=0, fracridge=False)).final
    assert np.abs(got - np.concatenate([world.expected[k] for k in RUNS])).max() < 0.1


def test_a_short_trial_is_judged_by_when_it_happens_not_by_its_duration(runs):
    """Each trial's regressor is compared with its own peak: a 0.25 s trial early in the run (whose regressor
    peaks at ~1/16 of a 4 s trial's) is kept; a trial 1 s before the last volume is left out whatever its
    duration. (Found by the BIDS-App test: planted durations of 0.5-3 s had short trials dropped all over.)"""
    run = dataclasses.replace(runs[0], tr=2.0, start_time=0.0)
    events = pd.DataFrame({"onset": [10.0, 20.0, 30.0, 40.0, 157.0, 157.5],
                           "duration": [0.25, 4.0, 4.0, 4.0, 0.25, 4.0], "stim_id": ["a", "b", "c", "d", "e", "f"]})
    kept = drop_late_trials(events, run, 80)  # the last volume samples 158 s
    assert list(kept["stim_id"]) == ["a", "b", "c", "d"]
    # the same trials without the late ones are all kept, whatever the other trials' durations
    assert len(drop_late_trials(events.iloc[:4], run, 80)) == 4
    assert len(drop_late_trials(events.iloc[:1], run, 80)) == 1


def test_cosine_drift_without_cosine_columns_is_an_error(runs, tmp_path):
    table = pd.read_csv(runs[0].confounds, sep="\t")
    path = tmp_path / runs[0].confounds.name
    table.drop(columns=[c for c in table.columns if c.startswith("cosine")]).to_csv(path, sep="\t", index=False)
    run = bi.BoldRun(**{**runs[0].__dict__, "confounds": path})
    with pytest.raises(bi.BidsInputError, match=_names(path, "drift 'cosine' needs fMRIPrep's cosineXX columns")):
        bi.load_confounds(run, 80, {**STRATEGY, "drift": "cosine"})


def test_sessions_sort_naturally():
    labels = ["10", "2", "1", "pre", "post"]
    assert sorted(labels, key=bi.natural_key)[:3] == ["1", "2", "10"]
    assert sorted(["ses2run10", "ses2run9"], key=bi.natural_key) == ["ses2run9", "ses2run10"]


# ----------------------------------------------------------------------------------------------
# 6. a new user's probes (issue 19): each bad input named with its file and the fix


def test_an_empty_mask_and_masks_that_do_not_overlap_are_named(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("02", 1, "mask", root=root)
    nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE).to_filename(path)
    with pytest.raises(bi.BidsInputError, match=re.escape(f"Brain mask '{path}' has no voxel inside the brain")
                       + ".*Copy it again from fMRIPrep's output"):
        _load(world, root)

    # each mask has brain voxels, but ses-02 run-2's share none with those before it
    half = np.zeros(SHAPE, np.uint8)
    half[:3] = 1
    nib.Nifti1Image(half, AFFINE).to_filename(path)
    other = world.path("02", 2, "mask", root=root)
    nib.Nifti1Image(1 - half, AFFINE).to_filename(other)
    masks = [world.path(s, r, "mask", root=root) for s, r in RUNS]
    earlier = re.escape(str([p.name for p in masks[:3]]))
    with pytest.raises(bi.BidsInputError, match=re.escape(f"Brain mask '{other}' (90 voxels) has no voxel in common "
                                                          "with the masks of the runs before it (") + earlier
                       + r"; 40 voxels in common\): the intersection of the runs' masks is empty"):
        bi.load_mask(masks, nib.load(world.path("01", 1, "bold", root=root)))


def test_a_blank_volume_or_no_valid_voxel_is_an_error_naming_the_files(world, tmp_path):
    """One all-NaN volume used to empty the voxel set and crash later in scikit-learn; now it is named."""
    root = world.copy(tmp_path / "bids")
    path = world.path("01", 2, "bold", root=root)
    original = np.asanyarray(nib.load(path).dataobj).copy()
    bold = original.copy()
    bold[..., 7] = np.nan
    _save_bold(bold, AFFINE, path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"volume\(s\) \[7\] \(counting from 0, of 80\) are all "
                                                             "NaN or zero inside the brain mask.*copy it again")):
        _load(world, root)

    bold = original.copy()
    bold[world.mask] = 1000.0  # every brain voxel constant in this run: none is valid in all runs
    _save_bold(bold, AFFINE, path)
    counts = {world.path(s, r, "bold").name: 80 if (s, r) == ("01", 2) else 0 for s, r in RUNS}
    with pytest.raises(bi.BidsInputError, match=re.escape(f"No voxel is left: each of the 80 brain voxels is NaN, "
                                                          f"non-positive or constant in at least one run (such voxels "
                                                          f"per run: {counts})")):
        _load(world, root)


def test_a_truncated_bold_or_mask_is_named(world, runs, tmp_path):
    root = world.copy(tmp_path / "bids")
    path = world.path("01", 2, "bold", root=root)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # nib.load still reads the header
    with pytest.raises(bi.BidsInputError, match=_names(path, r"is truncated or damaged \(EOFError: .*\); copy it "
                                                             "again from fMRIPrep's output")):
        _load(world, root)

    mask = tmp_path / runs[0].mask.name
    mask.write_bytes(runs[0].mask.read_bytes()[:-20])
    with pytest.raises(bi.BidsInputError, match=_names(mask, r"is truncated or damaged \(.*\); copy it again")):
        bi.load_mask([mask], nib.load(runs[0].bold))


def test_a_sidecar_that_is_not_json_is_named_with_its_line(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    sidecar = world.path("02", 1, "bold_json", root=root)
    sidecar.write_text(sidecar.read_text()[:-12])  # cut inside the last value
    with pytest.raises(bi.BidsInputError, match=_names(sidecar, r"is not valid JSON \(line \d+, column \d+: .*\); fix it "
                                                                r".* BIDS sidecars must be valid JSON")):
        bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE)


def test_trials_at_the_same_onset_are_an_error(world, runs, tmp_path):
    events = world.events["01", 1]
    assert events.loc[2, "stim_id"] != "n/a" and pd.notna(events.loc[2, "stim_id"])
    twin = events.iloc[[2]].assign(stim_id="img010")
    path = tmp_path / runs[0].events.name
    write_tsv(pd.concat([events.iloc[:3], twin, events.iloc[3:]]), path)
    clash = re.escape(f"(rows [3, 4], stim_id {[events.loc[2, 'stim_id'], 'img010']})")
    with pytest.raises(bi.BidsInputError, match=_names(path, r"has 1 onset\(s\) shared by several trials: [\d.]+ s "
                                                             + clash + ".*delete the duplicate rows")):
        bi.load_events(dataclasses.replace(runs[0], events=path), N_VOL, _known(world))


def test_comma_separated_events_and_confounds_are_recognised(world, runs, tmp_path):
    r = runs[0]
    path = tmp_path / r.events.name
    world.events["01", 1].to_csv(path, sep=",", index=False, na_rep="n/a")
    with pytest.raises(bi.BidsInputError, match=_names(path, "is comma-separated .*BIDS events files are "
                                                             r"tab-separated \(TSV\). Convert it")) as err:
        bi.load_events(dataclasses.replace(r, events=path), N_VOL, _known(world))
    command = re.search(r'python -c "(.*)"', str(err.value)).group(1)
    exec(command)  # the conversion the message offers gives a table the reader accepts
    assert len(bi.load_events(dataclasses.replace(r, events=path), N_VOL, _known(world))) == N_TRIALS

    mixed = tmp_path / "mixed_events.tsv"
    mixed.write_text("onset,duration\tstim_id\n1.0,3.0\timg001\n")
    with pytest.raises(bi.BidsInputError, match=_names(mixed, r"has commas inside its column names \['onset,duration'\]")):
        bi.load_events(dataclasses.replace(r, events=mixed), N_VOL, _known(world))

    conf = tmp_path / r.confounds.name
    read_tsv(r.confounds).to_csv(conf, sep=",", index=False, na_rep="n/a")
    with pytest.raises(bi.BidsInputError, match=_names(conf, "is comma-separated .*BIDS confounds files are tab")):
        bi.load_confounds(dataclasses.replace(r, confounds=conf), N_VOL, STRATEGY)


def test_negative_onsets_are_an_error(world, runs, tmp_path):
    """An onset of −100 s used to be reported as a trial too close to the end of the run."""
    events = world.events["02", 1].copy()
    events.loc[4, "onset"] = -100.0
    path = tmp_path / runs[2].events.name
    write_tsv(events, path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"1 event\(s\) start before the run starts \(negative "
                                                             r"onsets \[-100.0\] s in row\(s\) \[5\]\)")):
        bi.load_events(dataclasses.replace(runs[2], events=path), N_VOL, _known(world))


def test_a_confound_column_that_is_all_na_is_an_error(runs, tmp_path, caplog):
    r = runs[0]
    table = read_tsv(r.confounds)
    table["trans_x"] = np.nan
    table["csf"] = np.nan
    path = tmp_path / r.confounds.name
    write_tsv(table, path)
    bad = dataclasses.replace(r, confounds=path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"the confound column\(s\) \['trans_x'\] are n/a .*in "
                                                             "every row.*Change preprocess.confounds.motion")):
        bi.load_confounds(bad, N_VOL, {"motion": 6, "drift": "none", "compcor": 0})
    with pytest.raises(bi.BidsInputError, match=r"\['csf'\] are n/a .*Change preprocess.confounds.columns so"):
        bi.load_confounds(bad, N_VOL, {"motion": 0, "drift": "none", "compcor": 0, "columns": ["csf"]})
    # fMRIPrep's n/a in the first row of the derivatives is still replaced by 0 and logged
    with caplog.at_level(logging.INFO, logger=LOG):
        got = bi.load_confounds(bad, N_VOL, {"motion": 0, "drift": "none", "compcor": 0,
                                             "columns": ["trans_y_derivative1"]})
    assert got.loc[0, "trans_y_derivative1"] == 0 and any("1 n/a value(s)" in m for m in caplog.messages)


def test_a_mask_on_another_grid_says_whether_shape_or_affine_differs(world, runs, tmp_path):
    bold = nib.load(runs[0].bold)
    shifted = AFFINE.copy()
    shifted[2, 3] += 2.0  # one voxel up: same shape, another affine
    path = tmp_path / runs[0].mask.name
    nib.Nifti1Image(world.mask.astype(np.uint8), shifted).to_filename(path)
    problem = (f"Brain mask '{path}' is not on the grid of the BOLD: it has the same shape (6, 6, 5) as BOLD "
               f"'{runs[0].bold}' but another affine (largest difference 2; brain mask: diagonal [2.0, 2.0, 2.0], "
               "translation [-6.0, -8.0, -2.0]; BOLD: diagonal [2.0, 2.0, 2.0], translation [-6.0, -8.0, -4.0])")
    with pytest.raises(bi.BidsInputError, match=re.escape(problem) + ".*same space-/res- entities"):
        bi.load_mask([path], bold)

    other = world.path("01", 1, "mask", space=OTHER_SPACE)
    with pytest.raises(bi.BidsInputError, match=re.escape(f"'{other}' is not on the grid of the BOLD: it has shape "
                                                          f"(5, 5, 4) and BOLD '{runs[0].bold}' has (6, 6, 5)")):
        bi.load_mask([other], bold)


def test_several_resolutions_need_preprocess_res(world, tmp_path):
    root = world.copy(tmp_path / "bids")
    space = f"space-{TEMPLATE_SPACE}_"
    for ses, run in RUNS:  # fMRIPrep run with two output resolutions: res-1 and res-2 of every file
        for kind in ("bold", "bold_json", "mask"):
            path = world.path(ses, run, kind, root=root)
            for res in ("1", "2"):
                shutil.copy(path, path.with_name(path.name.replace(space, f"{space}res-{res}_")))
            path.unlink()
    with pytest.raises(bi.BidsInputError, match=r"Found 2 preprocessed BOLD files .*They differ in res \['1', '2'\]: "
                                                "set preprocess.res to one of them"):
        bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE)

    found = bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, res="2")
    assert [(r.session, r.run) for r in found] == RUNS
    assert all("_res-2_" in r.bold.name and "_res-2_" in r.mask.name for r in found)
    data, _ = _load(world, root, res="2")
    assert len(data) == 4
    with pytest.raises(bi.BidsInputError, match=r"No preprocessed BOLD .*res-3.*res: \['1', '2'\].*preprocess.res"):
        bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, res="3")

    # another entity tells two files apart: named, with no config key to offer
    bold = found[0].bold
    shutil.copy(bold, bold.with_name(bold.name.replace("_run-01_", "_run-01_echo-2_")))
    with pytest.raises(bi.BidsInputError, match=r"differ in the BIDS entity 'echo' \['\(none\)', '2'\], which "
                                                "cortexplorer does not select by: keep the files of one echo"):
        bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, res="2")


def test_a_subject_without_files_lists_the_subjects_present(world, tmp_path):
    with pytest.raises(bi.BidsInputError, match=re.escape(f"sub-02 has no folder or files under '{world.root}'")
                       + r".*Subjects present: \['01'\]. Set bids.participant_label to some of them"):
        bi.find_runs(world.root, subject="02", task=TASK, space=TEMPLATE_SPACE)
    root = world.copy(tmp_path / "bids")
    raw = world.path("01", 1, "events", root=root)
    moved = Path(str(raw).replace("sub-01", "sub-03"))
    moved.parent.mkdir(parents=True)
    shutil.copy(raw, moved)
    with pytest.raises(bi.BidsInputError, match=r"sub-03 has raw data under .* but no preprocessed files"):
        bi.find_runs(root, subject="03", task=TASK, space=TEMPLATE_SPACE)


# ----------------------------------------------------------------------------------------------
# 5. events as the BIDS specification writes them


def test_stim_file_names_each_trials_image_as_bids_specifies(world, runs, tmp_path, caplog):
    """The BIDS ``stim_file`` column (a path relative to the stimulus folder) names each trial's image: top-level
    files give their stem, files in sub-folders their path without the suffix (as the stimulus import names them);
    a stim_id column beside it must name the same images; an unknown file is an error naming the file and the
    folder key."""
    r = runs[2]
    plain = bi.load_events(r, N_VOL, _known(world))
    events = world.events["02", 1].copy()
    events["stim_file"] = [f"./{s}.png" if isinstance(s, str) else None for s in events["stim_id"]]
    path = tmp_path / r.events.name
    write_tsv(events, path)
    with caplog.at_level(logging.INFO, logger=LOG):
        by_file = bi.load_events(dataclasses.replace(r, events=path), N_VOL, _known(world))
    assert list(by_file["stim_id"]) == list(plain["stim_id"])
    np.testing.assert_array_equal(by_file["onset"], plain["onset"])
    assert any("read from the BIDS stim_file column (its stim_id column agrees)" in m for m in caplog.messages)
    assert any("1 event(s) with stim_file n/a are not modelled" in m for m in caplog.messages)
    # both columns, disagreeing: an error naming the rows (counted from 1 after the header) and one example
    clash = events.copy()
    rows = [i for i, s in enumerate(clash["stim_id"]) if isinstance(s, str)][2:4]
    clash.loc[rows, "stim_id"] = "img999"
    write_tsv(clash, path)
    with pytest.raises(bi.BidsInputError, match=_names(path, rf": the stim_file and stim_id columns name different "
                                                             rf"images in 2 row\(s\) \[{rows[0] + 1}, {rows[1] + 1}\]; "
                                                             rf"e\.g\. row {rows[0] + 1}: stim_file './img\d+\.png' "
                                                             r"\(image 'img\d+'\) but stim_id 'img999'")):
        bi.load_events(dataclasses.replace(r, events=path), N_VOL, _known(world))
    events["stim_id"] = "ignored"

    nested = events.drop(columns="stim_id")
    nested["stim_file"] = [f"set-{s[-1]}\\{s}.jpg" if isinstance(s, str) else None for s in plain["stim_id"]] + [None]
    nested = nested.iloc[: len(plain) + 1]
    write_tsv(nested, path)
    known = {f"set-{s[-1]}/{s}" for s in STIM_IDS}
    got = bi.load_events(dataclasses.replace(r, events=path), N_VOL, known)
    assert list(got["stim_id"]) == [f"set-{s[-1]}/{s}" for s in plain["stim_id"]]

    nested.loc[0, "stim_file"] = "set-1/nothere.png"
    write_tsv(nested, path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"names 1 stim_file\(s\) with no image in the stimulus "
                                                             r"folder \(bids\.stimuli_dir\), e\.g\. \['set-1/nothere\.png'\]")):
        bi.load_events(dataclasses.replace(r, events=path), N_VOL, known)
    write_tsv(events.drop(columns=["stim_id", "stim_file"]), path)
    with pytest.raises(bi.BidsInputError, match=_names(path, r"has no 'stim_id' column .*BIDS names it in a "
                                                             r"'stim_file' column")):
        bi.load_events(dataclasses.replace(r, events=path), N_VOL, known)


def test_each_trials_own_duration_is_modelled():
    """Trials of 1 s and 6 s planted with their own durations are recovered by the single-trial recipe; the same
    data fitted as if every trial lasted the median duration miss by far more (so durations are honoured)."""
    from cortexplorer.preprocess.recipe import RunData

    rng = np.random.default_rng(5)
    canon = canonical_hrf(hrf_time())[None]
    n_vol, tr, n_vox, n = 160, 2.0, 40, 20
    data, truth = [], []
    for k in range(2):
        onsets = 8.0 + 14.0 * np.arange(n) + rng.uniform(0, 2, n)
        durations = np.repeat([1.0, 6.0], n // 2)
        rng.shuffle(durations)
        betas = rng.uniform(0.5, 3.0, (n, n_vox))
        x = trial_regressors(canon, onsets, durations, n_vol, tr, 0.0, 3.5)[0]
        y = (x @ betas + rng.normal(0, 0.01, (n_vol, n_vox))).astype(np.float32)
        data.append(RunData(data=y, onsets=onsets, durations=durations,
                            conditions=np.array([f"s{k}{i}" for i in range(n)]), nuisance=np.ones((n_vol, 1)),
                            session=1, run=k + 1, tr=tr, start_time=0.0))
        truth.append(betas)
    settings = recipe_settings(hrf="canonical", noise_pcs=0, fracridge=False)
    expected = np.concatenate(truth)
    got = fit_recipe(data, settings).final
    # the fit's nominal duration is the median (3.5 s), as planted: betas are in units of that trial's peak
    # noise SD 0.01 %: a 1-s trial's regressor peaks at about a third of the nominal one, so its beta's standard
    # error is about 3x larger (measured: largest error 0.073, median 0.0056 of betas 0.5-3; a flat duration 2.5)
    err = np.abs(got - expected)
    assert err.max() < 0.15 and np.median(err) < 0.01
    flat = fit_recipe([dataclasses.replace(d, durations=np.full(n, 3.5)) for d in data], settings).final
    assert np.abs(flat - expected).max() > 1.0


def _index_messages(caplog) -> list[str]:
    return [m.split(" ")[2] for m in caplog.messages if m.startswith("BIDS index: ")]


def test_the_dataset_is_indexed_once_per_state_and_reused(world, runs, tmp_path, caplog, monkeypatch):
    """Jobs load the pybids index the first one built; a changed file listing or JSON sidecar is indexed again,
    an edited events table (pybids does not index TSV contents) is not; earlier states are pruned."""
    root, index = world.copy(tmp_path / "bids"), tmp_path / "index"
    with caplog.at_level(logging.INFO, logger=LOG):
        first = bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, index_dir=index)
        again = bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, index_dir=index)
    assert _index_messages(caplog) == ["built", "loaded"]
    in_memory = [dataclasses.replace(r, bold=root / r.bold.relative_to(world.root)) for r in runs]
    assert [r.bold for r in first] == [r.bold for r in again] == [r.bold for r in in_memory]
    assert [r.tr for r in again] == [r.tr for r in in_memory] and again[0].events == first[0].events
    state = bi.dataset_state(root)
    assert [p.name for p in index.iterdir()] == [state]

    events = world.path("01", 1, "events", root=root)
    events.write_text(events.read_text().replace("image", "image"))  # rewritten: not part of the index
    os.utime(events, (1, 1))
    assert bi.dataset_state(root) == state
    sidecar = world.path("01", 1, "bold_json", root=root)
    sidecar.write_text(sidecar.read_text().replace(str(TR), str(TR) + "0"))
    assert bi.dataset_state(root) != state
    monkeypatch.setattr(bi, "KEEP_OLD_INDEX_S", -1.0)  # no job reads the earlier state's index any more
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOG):
        bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, index_dir=index)
    assert _index_messages(caplog) == ["built", "removed"]
    assert [p.name for p in index.iterdir()] == [bi.dataset_state(root)]
    extra = root / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_T1w.nii.gz"  # a new file changes the listing
    extra.parent.mkdir()
    extra.write_bytes(b"")
    assert bi.dataset_state(root) not in {state, *[p.name for p in index.iterdir()]}


def test_two_jobs_building_one_index_keep_the_first(world, tmp_path, caplog, monkeypatch):
    """Jobs started at once on a cluster both build; the one that renames second keeps the other's index."""
    root, index = world.copy(tmp_path / "bids"), tmp_path / "index"
    real_rename = os.rename

    def lose_the_race(src, dst):  # another job renames its (identical) index into place first
        shutil.copytree(src, dst)
        real_rename(src, str(src) + ".other")
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr(bi.os, "rename", lose_the_race)
    with caplog.at_level(logging.INFO, logger=LOG):
        got = bi.find_runs(root, subject=SUBJECT, task=TASK, space=TEMPLATE_SPACE, index_dir=index)
    assert "another job built" in " ".join(caplog.messages)
    assert len(got) == len(RUNS)
    assert not list(index.glob(".*.building"))  # this job's own copy is gone


def _hand_design(onsets, durations, n_vol, tr, nominal):
    """Each trial's canonical regressor written out by hand: the HRF on the 0.05 s grid summed over the trial's
    boxcar samples (a discrete convolution), read at each volume's time by linear interpolation, divided by the
    peak of a ``nominal``-second trial's — loop by loop, without the library's vectorised code."""
    from cortexplorer.preprocess.hrf import DT

    h = canonical_hrf(hrf_time())

    def convolved(d):
        n_box = max(1, round(d / DT))
        out = np.zeros(len(h) + n_box - 1)
        for i in range(len(out)):
            out[i] = sum(h[i - k] for k in range(n_box) if 0 <= i - k < len(h))
        return out

    peak = convolved(nominal).max()
    x = np.zeros((n_vol, len(onsets)))
    for j, (onset, d) in enumerate(zip(onsets, durations, strict=True)):
        c = convolved(d) / peak
        for m in range(n_vol):
            pos = (m * tr - onset) / DT
            i = int(np.floor(pos))
            if 0 <= i < len(c) - 1:
                x[m, j] = c[i] + (pos - i) * (c[i + 1] - c[i])
            elif i == len(c) - 1 and pos == i:
                x[m, j] = c[i]
    return x


def test_betas_with_planted_durations_equal_a_design_built_by_hand():
    """Issue 21: single-trial betas of a run whose trials have their own durations equal ordinary least squares on
    a design written out by hand (to 1e-6), and differ from those of a design where every trial has one duration."""
    from cortexplorer.preprocess.recipe import RunData

    rng = np.random.default_rng(21)
    n_vol, tr, n_vox, n = 120, 2.0, 6, 12
    onsets = 6.0 + 16.0 * np.arange(n) + rng.uniform(0, 3, n)
    durations = np.round(rng.uniform(0.5, 6.0, n), 2)
    nominal = float(np.median(durations))
    y = rng.normal(0, 1, (n_vol, n_vox)) + _hand_design(onsets, durations, n_vol, tr, nominal) @ rng.uniform(
        0.5, 3.0, (n, n_vox))
    hand = np.column_stack([_hand_design(onsets, durations, n_vol, tr, nominal), np.ones(n_vol)])
    expected = np.linalg.lstsq(hand, y, rcond=None)[0][:n]
    run = RunData(data=y.astype(np.float64), onsets=onsets, durations=durations,
                  conditions=np.array([f"t{i}" for i in range(n)]), nuisance=np.ones((n_vol, 1)), session=1, run=1,
                  tr=tr, start_time=0.0)
    settings = recipe_settings(hrf="canonical", noise_pcs=0, fracridge=False)
    got = fit_recipe([run], settings).final
    flat = fit_recipe([dataclasses.replace(run, durations=np.full(n, nominal))], settings).final
    scale = np.abs(expected).max()  # relative: the recipe solves in float32 (measured 7e-7 absolute, 7e-8 relative)
    print(f"\n  max |betas - hand design's| / max |betas| {np.abs(got - expected).max() / scale:.1e}; with one "
          f"duration {np.abs(flat - expected).max() / scale:.2f}")
    assert np.abs(got - expected).max() < 1e-6 * scale
    assert np.abs(flat - expected).max() > 0.1 * scale
