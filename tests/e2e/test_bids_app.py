"""The workflow as a BIDS App (issue 21): ``cortexplorer BIDS_DIR OUT participant`` then ``group``.

The study is built from the smoke run's simulated subject: three participants whose BOLD is that subject's;
sub-02's events name each image by the BIDS ``stim_file`` column and carry planted per-trial durations;
sub-03 is left out with ``--participant-label``. The models are the real kinds at tiny size.
Known answers: sub-01 (same BOLD, events and settings as the smoke run) gets the smoke run's betas and
regions; sub-02 gets different betas from its different durations; sub-03 gets nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cortexplorer.io.images import read_image_set
from cortexplorer.layout import Layout
from cortexplorer.preprocess.contract import read_betas

from ..tiny_models import tiny_real_models
from .conftest import ONE_THREAD, SMOKE

CLI = str(Path(sys.executable).parent / "cortexplorer")


def _study(smoke: Path, root: Path) -> Path:
    """Three participants sharing the smoke subject's files (BOLD hard-linked); sub-02 by stim_file and durations."""
    src = smoke / SMOKE.simulation().root
    for f in sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = str(f.relative_to(src))
        labels = ("01", "02", "03") if "sub-01" in rel else (None,)
        for label in labels:
            dest = root / (rel.replace("sub-01", f"sub-{label}") if label else rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            (os.link if f.name.endswith(".nii.gz") else shutil.copy2)(f, dest)
    (root / "participants.tsv").write_text("participant_id\n" + "".join(f"sub-{s}\n" for s in ("01", "02", "03")))
    rng = np.random.default_rng(21)
    for events in sorted(root.glob("sub-02/ses-*/func/*_task-nsd_*_events.tsv")):
        table = pd.read_csv(events, sep="\t", dtype={"stim_id": str})
        shown = table["stim_id"].notna()
        table["duration"] = table["duration"].astype(float)
        table["stim_file"] = [f"{s}.png" if isinstance(s, str) else None for s in table["stim_id"]]
        table.loc[shown, "duration"] = np.round(rng.uniform(0.5, 3.0, int(shown.sum())), 2)  # planted, per trial
        table.drop(columns="stim_id").to_csv(events, sep="\t", index=False, na_rep="n/a")
    images = read_image_set(smoke / SMOKE.stimuli().images, smoke / SMOKE.stimuli().table)
    (root / "stimuli").mkdir()
    for sid, pixels in zip(images.table["stim_id"], images.images, strict=True):
        Image.fromarray(pixels).save(root / "stimuli" / f"{sid}.png")
    # the folder's annotations: each image's category, caption and split (the encoder's test images)
    images.table[["stim_id", "category", "caption", "split"]].to_csv(root / "stimuli" / "stimuli.tsv", sep="\t",
                                                                      index=False)
    return root


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"cortexplorer {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def test_bids_app_participant_then_group(smoke_run: Path, tmp_path: Path):
    from bids import BIDSLayout

    study = _study(smoke_run, tmp_path / "study")
    out = tmp_path / "derivatives" / "cortexplorer"
    models = tiny_real_models(tmp_path)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"features: {{backbones: {{tiny: {models['clip']}}}}}\n"
                   f"braindive: {{diffusion: {models['diffusion']}, regions: [faces, places], n_seeds: 4, steps: 2, "
                   f"batch_size: 4, classifier: {models['clip']}}}\n"
                   f"networks: {models['networks']}\n"
                   # the search stage is not what this tests: its one torch-free baseline keeps it short
                   "visual_search: {experiments: [curvature], models: [chance], scale: 0.25, trials_per_set_size: 1}\n"
                   "triplets: {n_bins: 2, bin_size: 0.3, tolerance: 0.5, max_triplets: 4, observers: {n: 2, trials: 60}, "
                   "cv_folds: 2, predictivity_layers: [pool4, pool5]}\n"
                   "stimuli: {image_size: 32}\n")
    common = (str(study), str(out))
    options = ("--configfile", str(cfg), "--cores", "2", *ONE_THREAD)
    chosen = ("--participant-label", "01", "sub-02", *options)

    # bad input stops before any job, naming the problem
    proc = _cli(*common, "participant", "--participant-label", "07", "--configfile", str(cfg), "-n", check=False)
    assert proc.returncode != 0
    assert "bids.participant_label names ['sub-07'], not in the dataset" in proc.stderr + proc.stdout
    assert "Participants present: ['01', '02', '03']" in proc.stderr + proc.stdout
    proc = _cli(str(study), str(study / "results"), "participant", check=False)
    assert proc.returncode == 2 and "a folder at its top level" in proc.stderr

    _cli(*common, "participant", *chosen)
    L = Layout("study")  # the results folder is named after BIDS_DIR
    for s in ("01", "02"):
        assert (out / L.encoder(s, "tiny").metrics).is_file() and (out / L.rois(s).table).is_file()
    assert not (out / L.preprocess("03").betas).exists() and not (out / CFG_REPORT).exists()
    assert (out / L.group().summary).is_file()  # a participant-level target: it summarises the chosen participants
    _cli(*common, "group", *options)  # no labels: the participants whose participant level ran (01, 02)
    html = (out / CFG_REPORT).read_text()
    assert "sub-01" in html and "sub-02" in html and "sub-03" not in html and "Group (2 participants)" in html
    # the group level: both participants' rows; their localizer runs are the same files, so their category
    # regions are the same voxels (Dice 1 with each other, SD 0 across them)
    group = pd.read_csv(out / L.group().participants, sep="\t", dtype={"participant": str})
    assert sorted(group["participant"].unique()) == ["01", "02"]
    dice = group[group["measure"] == "dice_to_others"].set_index(["participant", "region"])["value"]
    for s in ("01", "02"):
        for region in ("faces", "places"):
            assert dice[(s, region)] == 1.0
    summary = pd.read_csv(out / L.group().summary, sep="\t", keep_default_na=False).set_index(["measure", "region"])
    assert summary.loc[("n_voxels", "faces"), "n"] == 2 and float(summary.loc[("n_voxels", "faces"), "sd"]) == 0.0
    assert summary.loc[("r2_noise_normalised", "faces"), "n"] == 2

    # a rerun of either level has nothing to do
    for level in ("participant", "group"):
        proc = _cli(*common, level, *(chosen if level == "participant" else options), "-n")
        assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]

    # OUT is a BIDS derivatives dataset naming the pipeline, its version and code digest, and the source
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    (generated,) = desc["GeneratedBy"]
    from cortexplorer import __version__
    from cortexplorer.cli import workflow_digest

    assert generated["Name"] == "cortexplorer" and generated["Version"] == __version__
    assert f"sha256:{workflow_digest()}" in generated["Description"]
    assert desc["SourceDatasets"] == [{"URL": study.resolve().as_uri()}]
    layout = BIDSLayout(out, validate=True, is_derivative=True)
    assert layout.description["GeneratedBy"][0]["Name"] == "cortexplorer"

    # sub-01 has the smoke subject's files and settings: its betas and regions are the smoke run's
    ours, smoke = read_betas(out / L.preprocess("01").betas), read_betas(smoke_run / SMOKE.preprocess("01").betas)
    assert list(ours.stim_id) == list(smoke.stim_id)
    np.testing.assert_allclose(ours.betas, smoke.betas, atol=1e-6)
    ours_rois = pd.read_csv(out / L.rois("01").table, sep="\t").set_index("roi")["n_voxels"]
    smoke_rois = pd.read_csv(smoke_run / SMOKE.rois("01").table, sep="\t").set_index("roi")["n_voxels"]
    pd.testing.assert_series_equal(ours_rois, smoke_rois)
    # sub-02: the same BOLD modelled with its own (planted) durations, read through stim_file
    other = read_betas(out / L.preprocess("02").betas)
    assert list(other.stim_id) == list(ours.stim_id)
    assert list(other.trial_stim_id) == list(ours.trial_stim_id)  # stim_file named the same image in every trial
    diff = float(np.abs(other.betas - ours.betas).max())
    corr = float(np.corrcoef(other.betas.ravel(), ours.betas.ravel())[0, 1])
    print(f"\n  sub-02 (planted durations) vs sub-01 betas: max |diff| {diff:.3f}, r {corr:.3f}")
    assert diff > 0.05 and corr > 0.3  # measured: max |diff| 5.9, r 0.54


CFG_REPORT = "reports/index.html"
