"""The decoding stage's load → compute → write on a miniature BIDS tree with a user's atlas and network labels (the
bids-mode path, no Snakemake): the simulated participant of ``tests/test_simulate.py`` at a 10-mm grid."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.image import resample_img

from cortexplorer.config import check_config
from cortexplorer.decoding import stage
from cortexplorer.decoding.parcels import DecodingInputError
from cortexplorer.decoding.settings import EvaluateSettings, WaveSettings, WindowSettings
from cortexplorer.features.extract import write_features
from cortexplorer.io.tables import read_tsv
from cortexplorer.layout import Layout
from cortexplorer.preprocess.bids_input import BidsInputError
from cortexplorer.simulate.settings import SimulatedDatasetSettings
from cortexplorer.simulate.subject import write_simulated_dataset

from .test_simulate import _tiny_simulation, tiny_inputs  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def bids_tree(tiny_inputs, tmp_path_factory):  # noqa: F811
    """A one-participant BIDS dataset with fMRIPrep-style derivatives, and the atlas as a user would pass it."""
    root = tmp_path_factory.mktemp("bids")
    _tiny_simulation(tiny_inputs, root, 4, "01")
    sim = Layout("t").simulation()
    write_simulated_dataset({}, {k: str(root / Path(v).relative_to(Layout("t").results))
                                 for k, v in dataclasses.asdict(sim).items()},
                            SimulatedDatasetSettings(subjects=("01",), tr=2.0))
    truth = root / "truth" / "sub-01"
    user = root / "atlas"
    user.mkdir()
    shutil.copy(truth / "networks" / "atlas.nii.gz", user / "atlas.nii.gz")
    table = read_tsv(truth / "networks.tsv")
    table[["index", "network"]].to_csv(user / "networks.tsv", sep="\t", index=False)
    return root


def _window_settings(**change) -> WindowSettings:
    cfg = check_config({"dataset": {"name": "t", "mode": "demo"}, "seed": 1})
    return dataclasses.replace(WindowSettings.from_config(cfg, subject="01"), **{"bids_index": None, "length": 3,
                                                                                 **change})


def _inputs(root: Path) -> dict[str, str]:
    return {"bids": str(root / "bids" / "dataset_description.json"), "stimuli": str(root.parent / "stimuli.tsv"),
            "atlas": str(root / "atlas" / "atlas.nii.gz"), "networks": str(root / "atlas" / "networks.tsv")}


@pytest.fixture(scope="module")
def windows(bids_tree, tiny_inputs):  # noqa: F811
    shutil.copy(tiny_inputs / "stimuli" / "stimuli.tsv", bids_tree.parent / "stimuli.tsv")
    out = {"windows": str(bids_tree / "windows.h5"), "provenance": str(bids_tree / "windows.json")}
    stage.windows_stage(_inputs(bids_tree), out, _window_settings())
    return stage.read_windows(out["windows"])


def test_windows_hold_every_trial_over_every_parcel(bids_tree, windows):
    trials = read_tsv(bids_tree / "truth" / "sub-01" / "trials.tsv")
    labels = read_tsv(bids_tree / "atlas" / "networks.tsv")
    assert len(windows["windows"]) == len(trials)
    assert windows["windows"].shape[1:] == (3 + 2, len(labels))
    assert windows["stim_id"].tolist() == trials["stim_id"].astype(str).tolist()
    assert windows["network"].tolist() == labels["network"].tolist()
    # % signal change of each parcel's run mean: every run's series is centred, so the pretraining windows (which
    # tile each run) average near zero
    assert abs(float(windows["pretrain"].mean())) < 0.5


def test_an_atlas_on_another_grid_names_both_files_and_the_fix(bids_tree):
    atlas = nib.load(bids_tree / "atlas" / "atlas.nii.gz")
    coarse = resample_img(atlas, target_affine=np.diag([20.0, 20.0, 20.0]), interpolation="nearest",
                          force_resample=True, copy_header=True)
    coarse.to_filename(bids_tree / "atlas" / "coarse.nii.gz")
    inputs = {**_inputs(bids_tree), "atlas": str(bids_tree / "atlas" / "coarse.nii.gz")}
    labels = np.unique(np.asarray(coarse.dataobj))
    pd.DataFrame({"index": labels[labels > 0], "network": "Visual"}).to_csv(bids_tree / "atlas" / "coarse.tsv",
                                                                            sep="\t", index=False)
    inputs["networks"] = str(bids_tree / "atlas" / "coarse.tsv")
    with pytest.raises(BidsInputError, match=r"The atlas '.*coarse.nii.gz' is not on the grid of the BOLD: it has "
                                             r"shape .* and BOLD '.*_bold.nii.gz' has .*resample_to_img"):
        stage.windows_stage(inputs, {"windows": str(bids_tree / "w2.h5"), "provenance": str(bids_tree / "w2.json")},
                            _window_settings())
    assert not (bids_tree / "w2.h5").exists()


def test_windows_past_the_end_of_a_run_name_it(bids_tree):
    with pytest.raises(DecodingInputError, match=r"trial window\(s\) of 'sub-01_ses-01_task-nsd_run-01_space-"
                                                 r".*_bold.nii.gz' run past its end"):
        stage.windows_stage(_inputs(bids_tree), {"windows": str(bids_tree / "w3.h5"),
                                                 "provenance": str(bids_tree / "w3.json")},
                            _window_settings(length=40))
    assert not (bids_tree / "w3.h5").exists()


def test_wave_and_evaluation_run_on_the_windows(bids_tree, windows, tiny_inputs):  # noqa: F811
    table = read_tsv(bids_tree.parent / "stimuli.tsv")
    table["split"] = np.where(np.arange(len(table)) % 4 == 0, "test", "train")
    table.to_csv(bids_tree.parent / "stimuli_split.tsv", sep="\t", index=False)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(table), 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    write_features(bids_tree / "features.h5", emb, table["stim_id"].astype(str).to_numpy(), {"name": "fake"})
    inputs = {"windows": str(bids_tree / "windows.h5"), "features": str(bids_tree / "features.h5"),
              "stimuli": str(bids_tree.parent / "stimuli_split.tsv")}
    wave_out = {k: str(bids_tree / f"wave.{k}") for k in ("predictions", "model", "training", "provenance")}
    settings = WaveSettings(backbone="fake", backbone_spec={}, visual_network="Visual",
                            model={"width": 8, "depth": 1, "heads": 2, "dropout": 0.0}, epochs=2, lr=1e-3,
                            batch_size=4, parcel_dropout=0.2, pretrain_epochs=1, mask_fraction=0.25, captions=False,
                            seeds=2, tr_shift=1, device="cpu", seed=3)
    stage.wave_stage(inputs, wave_out, settings)
    preds, ids = stage.read_predictions(wave_out["predictions"])
    test_ids = table.loc[table["split"] == "test", "stim_id"].astype(str)
    assert ids.tolist() == test_ids.tolist()
    networks = list(dict.fromkeys(windows["network"].tolist()))
    assert len(preds) == 2 * (2 + len(networks)) and all(p.shape == (len(ids), 8) for p in preds.values())
    stage.write_predictions(str(bids_tree / "baseline.h5"), {"baseline/betas/0": emb[table["split"] == "test"]},
                            ids)
    ev_out = {k: str(bids_tree / f"ev.{k}") for k in ("metrics", "ablation", "figure", "provenance")}
    stage.evaluate_stage({**inputs, "baseline": str(bids_tree / "baseline.h5"), "wave": wave_out["predictions"],
                          "images": str(tiny_inputs / "stimuli" / "images.h5")}, ev_out,
                         EvaluateSettings(backbone="fake", visual_network="Visual", semantic_column="category",
                                          n_way=2, top=2, n_perm=19, grid_stimuli=3, seed=1))
    metrics = read_tsv(ev_out["metrics"])
    # the baseline's "predictions" are the true embeddings: perfect retrieval, the smallest permutation p
    base = metrics[metrics["decoder"] == "baseline"].set_index("metric")
    assert base.loc["image_top1", "value"] == 1.0 and base.loc["image_top1", "p"] == pytest.approx(1 / 20)
    assert sorted(read_tsv(ev_out["ablation"])["network"]) == sorted(networks)
