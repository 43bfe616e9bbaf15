"""The simulated subject of the smoke run against its own truth, and its BIDS layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from bids import BIDSLayout
from nilearn.glm.first_level import compute_regressor

from cortexplorer.simulate import score_images

from .conftest import SMOKE

SPACE = "MNI152NLin2009aSym"
SIM = SMOKE.simulated_subject("01")
BIDS = SMOKE.simulation().root


def _truth(run: Path):
    with h5py.File(run / SIM.truth / "responses.h5") as f:
        responses = f["stimulus_responses"][:]
        ids = f["stim_id"][:].astype(str)
        gain = f["session_gain"][:]
    voxels = pd.read_csv(run / SIM.truth / "voxels.tsv", sep="\t")
    stim = pd.read_csv(run / SMOKE.stimuli().table, sep="\t").set_index("stim_id").loc[ids]
    return responses, ids, gain, voxels, stim


def test_planted_regions_prefer_their_category(smoke_run):
    responses, _, _, voxels, stim = _truth(smoke_run)
    regions = pd.read_csv(smoke_run / SIM.truth_regions, sep="\t")
    cats = stim["category"].to_numpy()
    for _, row in regions[regions["category"] != "low-level"].iterrows():
        sel = (voxels["region"] == row["roi"]).to_numpy()
        assert sel.sum() == row["n_voxels"] > 0
        mean = pd.Series(responses[:, sel].mean(1)).groupby(cats).mean()
        others = mean.drop(row["category"])
        assert mean[row["category"]] > 2 * others.max(), (row["roi"], mean.to_dict())


def test_region_masks_match_voxel_table(smoke_run):
    _, _, _, voxels, _ = _truth(smoke_run)
    for roi in ("FFA", "PPA", "V1"):
        mask = np.asarray(nib.load(smoke_run / SIM.truth / "regions" / f"{roi}.nii.gz").dataobj)
        ijk = voxels.loc[voxels["region"] == roi, ["i", "j", "k"]].to_numpy()
        assert mask.sum() == len(ijk) and mask[tuple(ijk.T)].all()


def _bold_and_prediction(run_dir: Path, ses: str, run: int, roi: str, shuffle: bool = False):
    responses, ids, gain, voxels, _ = _truth(run_dir)
    index = {s: i for i, s in enumerate(ids)}
    bids = run_dir / BIDS
    func = bids / "derivatives" / "fmriprep" / "sub-01" / f"ses-{ses}" / "func"
    stem = f"sub-01_ses-{ses}_task-nsd_run-{run:02d}"
    img = nib.load(func / f"{stem}_space-{SPACE}_desc-preproc_bold.nii.gz")
    meta = json.loads((func / f"{stem}_space-{SPACE}_desc-preproc_bold.json").read_text())
    events = pd.read_csv(bids / "sub-01" / f"ses-{ses}" / "func" / f"{stem}_events.tsv", sep="\t")
    conf = pd.read_csv(func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", na_values="n/a")
    tr, n_vol = meta["RepetitionTime"], img.shape[-1]
    frame_times = np.arange(n_vol) * tr + meta["StartTime"]
    sel = voxels.index[voxels["region"] == roi].to_numpy()
    ijk = voxels.loc[sel, ["i", "j", "k"]].to_numpy()
    bold = np.asarray(img.dataobj)[tuple(ijk.T)].T  # T×V
    rows = np.array([index[s] for s in events["stim_id"]])
    if shuffle:
        rows = np.random.default_rng(0).permutation(rows)
    amp = responses[rows][:, sel] * gain[int(ses) - 1]
    pred = np.column_stack([
        compute_regressor(np.vstack([events["onset"], events["duration"], amp[:, v]]), "spm", frame_times)[0][:, 0]
        for v in range(len(sel))])
    nuisance = np.column_stack([np.ones(n_vol), conf.filter(like="cosine").to_numpy(),
                                conf[["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]].to_numpy(),
                                np.linspace(-1, 1, n_vol)])
    resid = lambda y: y - nuisance @ np.linalg.lstsq(nuisance, y, rcond=None)[0]  # noqa: E731
    b, p = resid(bold.astype(float)), resid(pred)
    r = (b * p).sum(0) / np.sqrt((b**2).sum(0) * (p**2).sum(0))
    return r


@pytest.mark.parametrize("roi", ["FFA", "PPA", "EBA", "V1"])
def test_bold_tracks_the_hrf_convolved_true_response(smoke_run, roi):
    """nilearn's canonical-HRF regressor built from the stored truth explains the region's BOLD;
    the same regressor built from shuffled stimulus labels does not."""
    r = _bold_and_prediction(smoke_run, "01", 1, roi)
    r_shuffled = _bold_and_prediction(smoke_run, "01", 1, roi, shuffle=True)
    assert np.median(r) > 0.35, np.round(r, 2)
    assert np.median(r) > np.median(r_shuffled) + 0.25


def test_bids_layout_indexes_and_reads_back(smoke_run):
    layout = BIDSLayout(smoke_run / BIDS, derivatives=True, validate=True)
    assert layout.get_subjects() == ["01"]
    assert set(layout.get_tasks()) == {"nsd", "floc"}
    bold = layout.get(subject="01", task="nsd", space=SPACE, desc="preproc", suffix="bold", extension=".nii.gz")
    assert len(bold) == 4  # smoke: 2 sessions × 2 runs
    for f in bold:
        ents = f.get_entities()
        meta = f.get_metadata()
        img = nib.load(f.path)
        assert img.ndim == 4
        assert meta["RepetitionTime"] == pytest.approx(float(img.header.get_zooms()[3]))
        conf_files = layout.get(subject="01", session=ents["session"], task="nsd", run=ents["run"], desc="confounds",
                                suffix="timeseries", extension=".tsv")
        assert len(conf_files) == 1
        conf = pd.read_csv(conf_files[0].path, sep="\t", na_values="n/a")
        assert len(conf) == img.shape[-1]
        assert conf["trans_x_derivative1"].isna().iloc[0] and not conf["trans_x_derivative1"].iloc[1:].isna().any()
        assert conf["framewise_displacement"].isna().iloc[0]
        n_cos = int(np.floor(2 * img.shape[-1] * meta["RepetitionTime"] / 128))
        assert list(conf.filter(regex=r"^cosine\d\d$").columns) == [f"cosine{k:02d}" for k in range(n_cos)]
        events = layout.get(subject="01", session=ents["session"], task="nsd", run=ents["run"], suffix="events",
                            extension=".tsv", scope="raw")
        assert len(events) == 1
        ev = pd.read_csv(events[0].path, sep="\t")
        assert list(ev.columns[:4]) == ["onset", "duration", "trial_type", "stim_id"]
        assert ev["onset"].max() + ev["duration"].max() < img.shape[-1] * meta["RepetitionTime"]
    masks = layout.get(subject="01", desc="brain", suffix="mask", extension=".nii.gz")
    assert len(masks) == len(layout.get(subject="01", desc="preproc", suffix="bold", extension=".nii.gz"))


def test_design_is_nsd_like(smoke_run):
    trials = pd.read_csv(smoke_run / SIM.truth / "trials.tsv", sep="\t", dtype={"stim_id": str})
    stim = pd.read_csv(smoke_run / SMOKE.stimuli().table, sep="\t")
    counts = trials["stim_id"].value_counts()
    assert set(counts.index) == set(stim["stim_id"]) and (counts == 3).all()
    assert trials["ses"].nunique() == 2
    interior_blanks = expected_blanks = 0
    for _, run in trials.groupby(["ses", "run"]):
        ids = run.sort_values("onset")["stim_id"].to_numpy()
        assert not (ids[1:] == ids[:-1]).any()
        slots = np.diff(np.sort(run["onset"])) / 4.0  # trials start on a 4-s grid, some slots blank
        assert np.allclose(slots, np.round(slots)) and slots.min() == 1
        interior_blanks += int(np.round(slots).sum() - len(slots))
        expected_blanks += round(len(run) * 0.16 / 0.84)  # the default simulate.blank_fraction
    assert 0.6 * expected_blanks <= interior_blanks <= expected_blanks


def test_score_images_reproduces_stored_truth(smoke_run):
    """The saved true-response model scores images exactly as the simulation did."""
    from cortexplorer.io.images import read_image_set

    s = read_image_set(smoke_run / SMOKE.stimuli().images, smoke_run / SMOKE.stimuli().table)
    responses, ids, *_ = _truth(smoke_run)
    assert list(ids) == list(s.table["stim_id"])
    scored = score_images(s.images[:20], smoke_run / SIM.truth / "model.h5", smoke_run / SMOKE.oracle().model)
    np.testing.assert_allclose(scored, responses[:20], rtol=1e-4, atol=1e-4)
