"""The simulated participants on tiny inputs: determinism, participants that differ, one BIDS dataset, and the
errors that leave nothing behind.

The smoke run's subject against its own truth and its BIDS layout: ``tests/e2e/test_simulate_outputs.py``.
"""

from __future__ import annotations

import dataclasses
import filecmp
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cortexplorer.config import check_config
from cortexplorer.layout import Layout
from cortexplorer.oracle import OracleSettings, train_oracle
from cortexplorer.simulate import SimulationSettings, simulate_subject
from cortexplorer.simulate.anatomy import EARLY_VISUAL
from cortexplorer.simulate.settings import SimulatedDatasetSettings
from cortexplorer.simulate.subject import write_simulated_dataset
from cortexplorer.stats import dice
from cortexplorer.stimuli import make_demo_image_set


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    for name, n, cats in (("stimuli", 24, ["face", "place", "word"]), ("localizer", 12, ["face", "place", "word"])):
        make_demo_image_set(name, out_h5=root / name / "images.h5", out_tsv=root / name / "stimuli.tsv",
                            out_provenance=root / name / "provenance.json", n=n, categories=cats, image_size=32,
                            test_fraction=0.0, seed=2)
    settings = OracleSettings(categories=("face", "place", "word"), image_size=32, seed=1, n_train=60, n_heldout=12,
                              epochs=1, batch_size=32, learning_rate=0.003, width=4, temperature=1.0, device="cpu")
    train_oracle(inputs={}, outputs={"model": str(root / "oracle.pt"), "metrics": str(root / "m.tsv"),
                                     "provenance": str(root / "p.json")}, settings=settings)
    return root


def _inputs(root: Path, oracle: str = "oracle.pt") -> dict[str, str]:
    return {"stimuli": str(root / "stimuli" / "images.h5"), "stimuli_table": str(root / "stimuli" / "stimuli.tsv"),
            "localizer": str(root / "localizer" / "images.h5"),
            "localizer_table": str(root / "localizer" / "stimuli.tsv"), "oracle": str(root / oracle)}


def _outputs(out: Path, subject: str = "01") -> dict[str, str]:
    """The workflow's own paths for one participant (``Layout.simulated_subject``), under ``out``."""
    paths = Layout("t").simulated_subject(subject)
    results = Layout("t").results
    return {k: str(out / Path(v).relative_to(results)) for k, v in dataclasses.asdict(paths).items()}


def _settings(seed: int, subject: str = "01", **simulate) -> SimulationSettings:
    cfg = check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": seed, "simulate": simulate})
    return SimulationSettings.from_config(cfg, subject=subject)


def _tiny_simulation(root: Path, out: Path, seed: int, subject: str = "01", **simulate) -> None:
    sim = _settings(seed, subject, **simulate)
    sim = dataclasses.replace(
        sim, voxel_size_mm=10, n_sessions=1, runs_per_session=2,
        regions=[r for r in sim.regions if r["category"] in ("face", "place", "word")],
        localizer={**sim.localizer, "n_runs": 1, "blocks_per_category": 2, "categories": ["face", "place", "word"]})
    simulate_subject(_inputs(root), _outputs(out, subject), sim)


def _regions(out: Path, subject: str) -> dict[str, np.ndarray]:
    folder = out / "truth" / f"sub-{subject}" / "regions"
    return {p.name.split(".")[0]: np.asarray(nib.load(p).dataobj) > 0 for p in folder.glob("*.nii.gz")
            if p.name != "atlas.nii.gz"}


def _all_files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name != "provenance.json")


def test_same_seed_gives_identical_files(tiny_inputs, tmp_path):
    _tiny_simulation(tiny_inputs, tmp_path / "a", seed=11)
    _tiny_simulation(tiny_inputs, tmp_path / "b", seed=11)
    _tiny_simulation(tiny_inputs, tmp_path / "c", seed=12)
    files = _all_files(tmp_path / "a")
    assert files == _all_files(tmp_path / "b") and len(files) > 30
    different = [f for f in files if not filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False)]
    assert different == []
    bold = "bids/derivatives/fmriprep/sub-01/ses-01/func/sub-01_ses-01_task-nsd_run-01_space-MNI152NLin2009aSym_desc-preproc_bold.nii.gz"
    assert not filecmp.cmp(tmp_path / "a" / bold, tmp_path / "c" / bold, shallow=False)


def test_region_of_a_category_the_world_lacks_is_an_error(tiny_inputs, tmp_path):
    with pytest.raises(ValueError, match=r"Region 'EBA' prefers 'body', which is not among the categories"):
        simulate_subject(_inputs(tiny_inputs), _outputs(tmp_path), _settings(1))
    assert list(tmp_path.iterdir()) == []


def test_failed_simulation_leaves_nothing_behind(tiny_inputs, tmp_path):
    with pytest.raises(FileNotFoundError, match="Oracle weights"):
        simulate_subject(_inputs(tiny_inputs, "missing.pt"), _outputs(tmp_path), _settings(1))
    assert list(tmp_path.iterdir()) == []


def test_participants_differ_by_their_own_streams_and_anatomy_jitter(tiny_inputs, tmp_path):
    # without jitter two participants share the planted regions but not their noise; with it the regions move
    for sub in ("01", "02"):
        _tiny_simulation(tiny_inputs, tmp_path / "still", 11, sub, anatomy_jitter_mm=0.0)
        _tiny_simulation(tiny_inputs, tmp_path / "moved", 11, sub, anatomy_jitter_mm=6.0)
    still = [_regions(tmp_path / "still", s) for s in ("01", "02")]
    assert still[0].keys() == still[1].keys() and len(still[0]) >= 4
    assert all(np.array_equal(still[0][r], still[1][r]) for r in still[0])
    bold = "sub-{s}/ses-01/func/sub-{s}_ses-01_task-nsd_run-01_space-MNI152NLin2009aSym_desc-preproc_bold.nii.gz"
    deriv = tmp_path / "still" / "bids" / "derivatives" / "fmriprep"
    a, b = (np.asarray(nib.load(deriv / bold.format(s=s)).dataobj) for s in ("01", "02"))
    assert a.shape == b.shape and not np.allclose(a, b)
    moved = [_regions(tmp_path / "moved", s) for s in ("01", "02")]
    category_regions = [r for r in moved[0] if r not in EARLY_VISUAL]  # early visual cortex has no centres
    overlaps = [dice(moved[0][r], moved[1][r]) for r in category_regions]
    assert len(overlaps) >= 3 and 0.0 < np.mean(overlaps) < 0.9, overlaps


def test_participants_form_one_bids_dataset(tiny_inputs, tmp_path):
    from bids import BIDSLayout

    for sub in ("01", "02"):
        _tiny_simulation(tiny_inputs, tmp_path, 3, sub)
    sim = Layout("t").simulation()
    outputs = {k: str(tmp_path / Path(v).relative_to(Layout("t").results))
               for k, v in dataclasses.asdict(sim).items()}
    write_simulated_dataset({}, outputs, SimulatedDatasetSettings(subjects=("01", "02"), tr=2.0))
    layout = BIDSLayout(tmp_path / "bids", derivatives=True, validate=True)
    assert layout.get_subjects() == ["01", "02"]
    assert sorted(layout.get_tasks()) == ["floc", "nsd"]
    preproc = layout.get(subject="02", task="nsd", desc="preproc", suffix="bold", extension=".nii.gz", scope="derivatives")
    assert len(preproc) == 2 and all(f.get_metadata()["RepetitionTime"] == 2.0 for f in preproc)
    assert (tmp_path / "bids" / "participants.tsv").read_text().split() == [
        "participant_id", "species", "sub-01", "simulated", "sub-02", "simulated"]


def test_networks_add_parcels_and_signal_without_moving_the_other_draws(tiny_inputs, tmp_path):
    from cortexplorer.decoding.parcels import read_atlas

    _tiny_simulation(tiny_inputs, tmp_path / "with", seed=5)
    _tiny_simulation(tiny_inputs, tmp_path / "without", seed=5, networks=[])
    truth = tmp_path / "with" / "truth" / "sub-01"
    atlas = read_atlas(truth / "networks" / "atlas.nii.gz", truth / "networks.tsv")  # the decoder's reader
    table = pd.read_csv(truth / "networks.tsv", sep="\t")
    regions = pd.read_csv(truth / "regions.tsv", sep="\t")
    visual = table[table["network"] == "Visual"]
    assert visual["parcel"].tolist() == regions.loc[regions["n_voxels"] > 0, "roi"].tolist()
    defaults = {n["name"]: n for n in _settings(5).networks}
    assert set(atlas.network_names) == {"Visual", *defaults}
    for name, spec in defaults.items():
        rows = table[table["network"] == name]
        assert len(rows) == len(spec["centers_mm"]) and (rows["n_voxels"] > 0).all()
        assert (rows["strength"] == spec["strength"]).all()
    # no network voxel inside a planted region
    labels = np.asarray(nib.load(truth / "networks" / "atlas.nii.gz").dataobj)
    region_atlas = np.asarray(nib.load(truth / "regions" / "atlas.nii.gz").dataobj)
    beyond = labels > visual["index"].max()
    assert beyond.any() and not (region_atlas[beyond] > 0).any()
    # the truth of the voxels and every localizer run are as without networks; main-experiment runs differ only
    # in the voxels of networks that carry meaning
    assert filecmp.cmp(truth / "voxels.tsv", tmp_path / "without" / "truth" / "sub-01" / "voxels.tsv", shallow=False)
    carrying = np.isin(labels, table.loc[table["strength"] > 0, "index"])
    for run in sorted((tmp_path / "with" / "bids").rglob("*_bold.nii.gz")):
        other = tmp_path / "without" / run.relative_to(tmp_path / "with")
        a, b = np.asarray(nib.load(run).dataobj), np.asarray(nib.load(other).dataobj)
        changed = np.abs(a - b).max(-1) > 0
        if "task-floc" in run.name:
            assert not changed.any(), run.name
        else:
            assert changed.any() and not changed[~carrying].any(), run.name


def test_planted_network_responses_have_the_configured_sd_and_controls_none():
    from cortexplorer.simulate.anatomy import build_anatomy
    from cortexplorer.simulate.networks import caption_embedding, plant_networks, stimulus_meaning

    sim = _settings(3)
    anat = build_anatomy(8, sim.regions, sim.region_radius_mm, sim.early_visual, np.random.default_rng(0))
    cats = ["face", "place", "word", "body"] * 10
    captions = [f"a {c} with {w}" for c, w in zip(cats, ["red", "blue", "green", "tall", "small"] * 8, strict=True)]
    meaning = stimulus_meaning(cats, captions, ["face", "place", "word", "body"])
    nets = plant_networks(anat, sim.networks, sim.region_radius_mm, meaning, np.random.default_rng(1),
                          categories=cats)
    # no category main effect anywhere: each voxel's mean response per category is 0
    means = pd.DataFrame(nets.responses).groupby(np.asarray(cats)).mean().to_numpy()
    assert np.abs(means).max() < 1e-9 and np.abs(nets.responses).max() > 0.5
    for row in nets.table:
        sel = nets.parcel == row["label"]
        if row["strength"] == 0:
            assert not nets.responses[:, sel].any()
            continue
        sd = nets.responses[:, sel].std(0)
        gain = sd / row["strength"]  # each voxel's gain in [0.5, 1.5] times the parcel's unit-SD response
        assert gain.min() >= 0.5 - 1e-9 and gain.max() <= 1.5 + 1e-9
        assert np.all(nets.lags[sel] == row["lag_s"])
    emb = caption_embedding(["a red face", "a red face on a plate", "a blue house"])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1)
    assert emb[0] @ emb[1] > 0.7 > abs(emb[0] @ emb[2])
