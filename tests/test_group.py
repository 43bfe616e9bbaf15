"""The group stage (cortexplorer.group): Dice to the other participants, per-participant rows, and the summary,
against brute-force answers on planted masks and tables."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from cortexplorer.group import dice_to_others, group_summary, summarise
from cortexplorer.group.settings import GroupSettings
from cortexplorer.io.tables import read_json, read_tsv, write_tsv
from cortexplorer.rois.contract import RoiMask, write_roi_set
from cortexplorer.stats import dice

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
SHAPE = (6, 5, 4)


def _masks(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(SHAPE) < 0.3 for _ in range(n)]


def test_dice_to_others_equals_a_brute_force_count():
    faces = _masks(0, 4)
    places = _masks(1, 3)
    masks = {f"0{i + 1}": {"faces": nib.Nifti1Image(m.astype(np.uint8), AFFINE)} for i, m in enumerate(faces)}
    for i, m in enumerate(places):  # sub-04 has no places region
        masks[f"0{i + 1}"]["places"] = nib.Nifti1Image(m.astype(np.uint8), AFFINE)
    got = dice_to_others(masks).set_index(["participant", "region"])["value"]
    for region, arrays in (("faces", faces), ("places", places)):
        for i, own in enumerate(arrays):
            others = [a for j, a in enumerate(arrays) if j != i]
            need = -(-len(others) // 2)  # at least half of the others
            expected_group = np.zeros(SHAPE, bool)
            for idx in np.ndindex(SHAPE):
                expected_group[idx] = sum(int(a[idx]) for a in others) >= need
            both = sum(int(own[idx] and expected_group[idx]) for idx in np.ndindex(SHAPE))
            expected = 2 * both / (own.sum() + expected_group.sum())
            assert got[(f"0{i + 1}", region)] == pytest.approx(expected, abs=1e-12)
    assert len(got) == 4 + 3
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) != dice(np.zeros(3, bool), np.zeros(3, bool))  # NaN


def test_no_dice_across_grids_or_for_one_participant():
    a = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)
    b = nib.Nifti1Image(np.ones(SHAPE, np.uint8), np.diag([1.8, 1.8, 1.8, 1.0]))  # NSD: each in its own space
    assert dice_to_others({"01": {"faces": a}, "02": {"faces": b}}).empty
    assert dice_to_others({"01": {"faces": a}}).empty


def test_summary_is_the_mean_and_sd_of_the_participants():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5, 2))
    rows = [{"participant": f"0{p}", "stage": "encoder", "measure": "r", "backbone": "clip", "region": region,
             "value": values[p, k]} for p in range(5) for k, region in enumerate(("faces", "places"))]
    rows.append({"participant": "09", "stage": "encoder", "measure": "r", "backbone": "clip", "region": "faces",
                 "value": float("nan")})  # a missing value is not counted
    summary = summarise(pd.DataFrame(rows)).set_index("region")
    for k, region in enumerate(("faces", "places")):
        assert summary.loc[region, "n"] == 5
        assert summary.loc[region, "mean"] == pytest.approx(values[:, k].mean())
        assert summary.loc[region, "sd"] == pytest.approx(values[:, k].std(ddof=1))
        assert summary.loc[region, "min"] == values[:, k].min() and summary.loc[region, "max"] == values[:, k].max()


def test_group_summary_writes_every_participants_rows(tmp_path: Path):
    inputs, subjects = {}, ("01", "02", "03")
    for i, s in enumerate(subjects):
        faces, places = _masks(10 + i, 2)
        rois = tmp_path / f"rois_{s}"
        write_roi_set(rois, [RoiMask("faces", "face", faces, "t > 3", "planted"),
                             RoiMask("places", "place", places, "t > 3", "planted")], AFFINE)
        inputs[f"rois_{s}"] = str(rois)
        table = read_tsv(rois / "rois.tsv")  # the demo's rois.tsv also scores each region against the planted one
        write_tsv(table.assign(dice_vs_truth=np.where(table["roi"] == "faces", 0.8 + i / 10, 0.9)), rois / "rois.tsv")
        enc = tmp_path / f"enc_{s}.tsv"
        write_tsv(pd.DataFrame({"region": ["faces", "places"], "source": "localizer", "n_voxels": [3, 4],
                                "median_r": [0.1 * i, 0.2], "median_r2": [0.0, 0.1],
                                "median_noise_ceiling": [50.0, 60.0 + i],
                                "median_r2_noise_normalised": [0.5 + i / 10, 0.6]}), enc)
        inputs[f"encoder_{s}_clip"] = str(enc)
        bd = tmp_path / f"bd_{s}.tsv"
        write_tsv(pd.DataFrame({"region": ["faces", "V1"], "category": ["face", None], "share_kept": [0.5 + i / 4, None],
                                "share_kept_cnn": [0.25, None]}), bd)
        inputs[f"braindive_{s}"] = str(bd)
    outputs = {k: str(tmp_path / "group" / f) for k, f in (("participants", "participants.tsv"),
                                                           ("summary", "summary.tsv"), ("figure", "group.png"),
                                                           ("provenance", "provenance.json"))}
    settings = GroupSettings.from_workflow(subjects=subjects, encoder_backbones=["clip"], brainscuba=False)
    group_summary(inputs, outputs, settings)
    table, summary = read_tsv(outputs["participants"]), read_tsv(outputs["summary"])
    assert sorted(table["participant"].astype(str).str.zfill(2).unique()) == list(subjects)
    r2nn = summary[(summary.measure == "r2_noise_normalised") & (summary.region == "faces")].iloc[0]
    assert r2nn["n"] == 3 and r2nn["mean"] == pytest.approx(0.6) and r2nn["sd"] == pytest.approx(0.1)
    share = summary[(summary.measure == "share_kept")].set_index("region")
    assert list(share.index) == ["faces"] and share.loc["faces", "mean"] == pytest.approx(0.75)  # V1 has no category
    sizes = summary[summary.measure == "n_voxels"].set_index("region")
    assert sizes.loc["faces", "n"] == 3
    assert len(table[table.measure == "dice_to_others"]) == 6  # two regions × three participants
    planted = summary[summary.measure == "dice_to_planted"].set_index("region")
    assert planted.loc["faces", "mean"] == pytest.approx(0.9) and planted.loc["faces", "min"] == pytest.approx(0.8)
    assert planted.loc["places", "sd"] == pytest.approx(0.0)
    assert Path(outputs["figure"]).stat().st_size > 10_000
    assert read_json(outputs["provenance"])["n_participants"] == 3
