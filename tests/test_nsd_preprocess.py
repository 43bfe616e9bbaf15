"""NSD betas and floc ROIs imported from a miniature NSD tree written in the real formats.

The tree plants known values: betas (int16, percent signal change × 300) = per-image response ×
per-session scale + per-session offset + noise, a design with images seen 3, 2 and 1 times, a
released ncsnr map, and floc label files with known voxel counts per subregion.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io

from cortexplorer.nsd import import_nsd_betas, import_nsd_rois
from cortexplorer.nsd.betas import read_nsd_session
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.rois.contract import read_roi_set

from .nsdfiles import floc_labels, write_nii

SHAPE = (6, 7, 5)
AFFINE = np.array([[1.8, 0, 0, -5.0], [0, 1.8, 0, -6.0], [0, 0, 1.8, -4.0], [0, 0, 0, 1]])
SUBJECT = 2  # not row 0 of subjectim, so the row lookup is tested
N_SESSIONS, N_TRIALS = 2, 750
REPEATS = {3: 300, 2: 200, 1: 200}  # trials per image -> number of images (900 + 400 + 200 = 1500 trials)
BETAS_DIR = "nsddata_betas/ppdata/subj02/func1pt8mm/betas_fithrf_GLMdenoise_RR"
ROI_DIR = "nsddata/ppdata/subj02/func1pt8mm/roi"
EXPDESIGN = "nsddata/experiments/nsd/nsd_expdesign.mat"
# planted floc labels: file -> {label: voxel count}; aTL-faces (5) and mTL-words (5) are absent
FLOC = {
    "floc-faces": {1: 3, 2: 4, 3: 2, 4: 1},
    "floc-places": {1: 5, 2: 6, 3: 2},
    "floc-bodies": {1: 7, 2: 2, 3: 1, 4: 3},
    "floc-words": {1: 2, 2: 3, 3: 1, 4: 2},
}
NAMES = {
    "floc-faces": {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces"},
    "floc-places": {1: "OPA", 2: "PPA", 3: "RSC"},
    "floc-bodies": {1: "EBA", 2: "FBA-1", 3: "FBA-2", 4: "mTL-bodies"},
    "floc-words": {1: "OWFA", 2: "VWFA-1", 3: "VWFA-2", 4: "mfs-words"},
}


def _nii(data: np.ndarray, path: Path, affine: np.ndarray = AFFINE) -> Path:
    return write_nii(data, path, affine)




@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("nsd")
    rng = np.random.default_rng(7)
    # nsdgeneral: -1 outside the brain, 0 unlabelled, 1 in a 3×4×3 block
    general = np.zeros(SHAPE, dtype=np.int16)
    general[0], general[-1] = -1, -1
    general[1:4, 2:6, 1:4] = 1
    mask = general > 0
    n_vox = int(mask.sum())
    _nii(general, root / ROI_DIR / "nsdgeneral.nii.gz")
    # design: 700 images in the subject's list, seen 3/2/1 times, shuffled over 1500 trials
    n_images = sum(REPEATS.values())
    per_image = np.repeat(list(REPEATS), list(REPEATS.values()))  # trials of local image k (0-based)
    order = rng.permutation(np.repeat(np.arange(1, n_images + 1), per_image))  # 1-based into subjectim row
    subjectim = np.stack([rng.choice(73000, n_images, replace=False) + 1 for _ in range(8)]).astype(np.float64)
    design = root / EXPDESIGN
    design.parent.mkdir(parents=True)
    scipy.io.savemat(design, {"masterordering": order[None, :].astype(np.float64), "subjectim": subjectim,
                              "sharedix": np.array([[1, 2]])})
    # betas: response[image] × scale[session] + offset[session] + noise, stored as int16 ×300
    response = rng.normal(0, 1, (n_images, n_vox))
    scale = rng.uniform(1, 3, (N_SESSIONS, n_vox))
    offset = rng.uniform(-5, 5, (N_SESSIONS, n_vox))
    stored, files = [], []
    for s in range(N_SESSIONS):
        images = order[s * N_TRIALS : (s + 1) * N_TRIALS] - 1
        psc = response[images] * scale[s] + offset[s] + rng.normal(0, 0.5, (N_TRIALS, n_vox))
        vol = rng.integers(-3000, 3000, (*SHAPE, N_TRIALS)).astype(np.int16)  # junk outside the mask
        vol[general == -1] = 32000
        vol[mask] = np.round(psc * 300).astype(np.int16).T
        stored.append(vol)
        files.append(_nii(vol, root / BETAS_DIR / f"betas_session{s + 1:02d}.nii.gz"))
    ncsnr = rng.uniform(0.1, 1.5, SHAPE).astype(np.float32)
    _nii(ncsnr, root / BETAS_DIR / "ncsnr.nii.gz")
    floc = {key: _nii(floc_labels(SHAPE, counts, rng), root / ROI_DIR / f"{key}.nii.gz") for key, counts in FLOC.items()}
    return SimpleNamespace(root=root, mask=mask, general=general, order=order, subjectim=subjectim,
                           per_image=per_image, stored=stored, betas_files=files, ncsnr=ncsnr,
                           design=design, floc=floc, response=response)


def _import(tree, out: Path, **overrides) -> SimpleNamespace:
    kwargs = dict(subject=SUBJECT, sessions=[1, 2], betas_files=tree.betas_files, expdesign_mat=tree.design,
                  ncsnr_nii=tree.root / BETAS_DIR / "ncsnr.nii.gz", mask_nii=tree.root / ROI_DIR / "nsdgeneral.nii.gz",
                  out_h5=out / "betas.h5", out_ncsnr=out / "ncsnr.nii.gz",
                  out_noiseceiling=out / "noiseceiling.nii.gz", out_provenance=out / "provenance.json")
    kwargs.update(overrides)
    import_nsd_betas(**kwargs)
    return SimpleNamespace(**kwargs)


@pytest.fixture(scope="module")
def imported(tree, tmp_path_factory):
    paths = _import(tree, tmp_path_factory.mktemp("out"))
    return paths, read_betas(paths.out_h5)


def _expected_psc(tree) -> np.ndarray:
    return np.concatenate([v[tree.mask].T.astype(np.float32) / np.float32(300) for v in tree.stored])


def test_int16_scaling_and_voxel_selection(tree, imported):
    _, b = imported
    np.testing.assert_array_equal(b.voxel_ijk, np.argwhere(tree.general > 0))  # -1 and 0 left out
    assert b.shape == SHAPE and np.allclose(b.affine, AFFINE)
    psc = read_nsd_session(tree.betas_files[1], tree.mask, AFFINE)
    assert psc.shape == (N_TRIALS, tree.mask.sum()) and psc.dtype == np.float32
    i, j, k = b.voxel_ijk[5]
    assert psc[10, 5] == pytest.approx(tree.stored[1][i, j, k, 10] / 300, abs=1e-6)
    assert np.abs(psc).max() < 60  # the 32000 outside the brain never gets in
    # the stored trials are the per-session z-scores of exactly these values
    x = _expected_psc(tree).astype(np.float64)
    for s in range(N_SESSIONS):
        block = x[s * N_TRIALS : (s + 1) * N_TRIALS]
        z = (block - block.mean(0)) / block.std(0)
        np.testing.assert_allclose(b.trial_betas[s * N_TRIALS : (s + 1) * N_TRIALS], z, atol=1e-5)


def test_trials_map_to_planted_images(tree, imported):
    _, b = imported
    expected = [f"nsd{int(tree.subjectim[SUBJECT - 1, idx - 1]) - 1:05d}" for idx in tree.order]
    assert list(b.trial_stim_id) == expected
    np.testing.assert_array_equal(b.trial_session, np.repeat([1, 2], N_TRIALS))
    for s in (1, 2):
        runs = b.trial_run[b.trial_session == s]
        assert list(np.bincount(runs)[1:]) == [63, 62] * 6 and np.all(np.diff(runs) >= 0)


def test_zscored_per_session(imported):
    _, b = imported
    for s in (1, 2):
        t = b.trial_betas[b.trial_session == s].astype(np.float64)
        np.testing.assert_allclose(t.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(t.std(0), 1, atol=1e-5)


def test_repeats_averaged(tree, imported):
    _, b = imported
    ids = np.array([f"nsd{int(i) - 1:05d}" for i in tree.subjectim[SUBJECT - 1]])
    expected_n = dict(zip(ids, tree.per_image, strict=True))
    assert dict(zip(b.stim_id, b.n_trials.tolist(), strict=True)) == expected_n
    assert np.bincount(b.n_trials).tolist() == [0, 200, 200, 300]
    means = pd.DataFrame(b.trial_betas.astype(np.float64)).groupby(b.trial_stim_id).mean()
    np.testing.assert_allclose(b.betas, means.loc[b.stim_id].to_numpy(), atol=1e-5)
    # the averages recover the planted responses (3-repeat images, per voxel)
    three = b.n_trials == 3
    order = {sid: k for k, sid in enumerate(ids)}
    planted = tree.response[[order[s] for s in b.stim_id[three]]]
    r = [np.corrcoef(b.betas[three, v], planted[:, v])[0, 1] for v in range(b.n_voxels)]
    assert min(r) > 0.9


def test_ncsnr_from_file_and_noise_ceiling(tree, imported):
    paths, b = imported
    ncsnr = tree.ncsnr[tree.mask].astype(np.float64)
    np.testing.assert_allclose(b.maps["ncsnr"], ncsnr, rtol=1e-6)
    k = (300 / 3 + 200 / 2 + 200 / 1) / 700  # NSD's (A/3 + B/2 + C/1)/(A+B+C)
    nc = 100 * ncsnr**2 / (ncsnr**2 + k)
    np.testing.assert_allclose(b.maps["noiseceiling"], nc, rtol=1e-5)
    for path, values in ((paths.out_ncsnr, ncsnr), (paths.out_noiseceiling, nc)):
        vol = nib.load(path)
        data = vol.get_fdata()
        assert vol.shape == SHAPE and np.allclose(vol.affine, AFFINE)
        np.testing.assert_allclose(data[tree.mask], values, rtol=1e-5)
        assert np.all(data[~tree.mask] == 0)
    prov = json.loads(Path(paths.out_provenance).read_text())
    assert prov["stage"] == "preprocess/nsd" and prov["settings"]["sessions"] == [1, 2] and prov["n_images"] == 700


def test_betas_errors(tree, tmp_path: Path):
    bad = tmp_path / "bad"
    short = _nii(tree.stored[0][..., :749], bad / "betas_session01.nii.gz")
    with pytest.raises(ValueError, match=r"betas_session01.nii.gz' has shape \(6, 7, 5, 749\); an NSD session holds"):
        _import(tree, tmp_path / "o", betas_files=[short, tree.betas_files[1]])
    moved = _nii(tree.stored[0], bad / "moved.nii.gz", affine=AFFINE + np.diag([0, 0, 0.2, 0]))
    with pytest.raises(ValueError, match=r"moved.nii.gz' is on a different grid from the mask"):
        _import(tree, tmp_path / "o", betas_files=[tree.betas_files[0], moved])
    smaller = _nii(tree.stored[0][:, :, :4], bad / "smaller.nii.gz")
    with pytest.raises(ValueError, match=r"shape \(6, 7, 4\) vs \(6, 7, 5\)"):
        _import(tree, tmp_path / "o", betas_files=[smaller, tree.betas_files[1]])
    design = scipy.io.loadmat(tree.design)
    for key in ("masterordering", "subjectim"):
        mat = bad / f"no_{key}.mat"
        scipy.io.savemat(mat, {k: v for k, v in design.items() if not k.startswith("__") and k != key})
        with pytest.raises(ValueError, match=rf"no_{key}.mat' has no '{key}'"):
            _import(tree, tmp_path / "o", expdesign_mat=mat)
    with pytest.raises(ValueError, match=r"Sessions \[3\] are beyond what 'masterordering' .* covers \(1500 trials = 2"):
        _import(tree, tmp_path / "o", sessions=[1, 3], betas_files=tree.betas_files)
    empty = _nii(np.where(tree.general > 0, 0, tree.general).astype(np.int16), bad / "empty.nii.gz")
    with pytest.raises(ValueError, match=r"empty.nii.gz' has no voxel > 0"):
        _import(tree, tmp_path / "o", mask_nii=empty)
    with pytest.raises(FileNotFoundError, match=r"betas file '.*missing.nii.gz' does not exist"):
        _import(tree, tmp_path / "o", betas_files=[tree.betas_files[0], bad / "missing.nii.gz"])
    with pytest.raises(ValueError, match=r"Got 1 betas files for 2 sessions"):
        _import(tree, tmp_path / "o", betas_files=tree.betas_files[:1])
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())  # nothing half-written


def test_floc_rois(tree, tmp_path: Path):
    table = import_nsd_rois(roi_files=tree.floc, out_dir=tmp_path / "rois")
    read, images = read_roi_set(tmp_path / "rois")
    counts = dict(zip(read["roi"], read["n_voxels"], strict=True))
    for key, labels in FLOC.items():
        domain = key.removeprefix("floc-")
        assert counts[domain] == sum(labels.values())
        for value, n in labels.items():
            assert counts[NAMES[key][value]] == n
    assert "aTL-faces" not in counts and "mTL-words" not in counts  # planted empty: left out
    assert len(read) == len(table) == 4 + sum(len(n) for n in NAMES.values())
    cats = dict(zip(read["roi"], read["category"], strict=True))
    assert cats["faces"] == cats["FFA-1"] == "face" and cats["places"] == "place"
    assert cats["bodies"] == "body" and cats["VWFA-1"] == "word"
    assert set(read["threshold"]) == {"NSD drawn ROI (t > 0, manual)"}
    assert read.set_index("roi").loc["PPA", "source"] == "floc-places.nii.gz"
    labels = np.asanyarray(nib.load(tree.floc["floc-faces"]).dataobj)
    ffa1 = np.asanyarray(images["FFA-1"].dataobj)
    assert ffa1.dtype == np.uint8 and np.array_equal(ffa1 > 0, labels == 2)
    assert np.array_equal(np.asanyarray(images["faces"].dataobj) > 0, labels >= 1)
    assert np.allclose(images["faces"].affine, AFFINE)


def test_floc_roi_errors(tree, tmp_path: Path):
    labels = np.asanyarray(nib.load(tree.floc["floc-faces"]).dataobj).copy()
    labels[labels == 1] = 6
    odd = _nii(labels, tmp_path / "odd-faces.nii.gz")
    with pytest.raises(ValueError, match=r"odd-faces.nii.gz' has label value\(s\) \[6\]"):
        import_nsd_rois(roi_files={"floc-faces": odd}, out_dir=tmp_path / "r")
    other = _nii(np.zeros((6, 7, 4), dtype=np.int16) + 1, tmp_path / "other-grid.nii.gz")
    with pytest.raises(ValueError, match=r"are on different grids \(shape \(6, 7, 5\) vs \(6, 7, 4\)"):
        import_nsd_rois(roi_files={"floc-faces": tree.floc["floc-faces"], "floc-places": other}, out_dir=tmp_path / "r")
    with pytest.raises(ValueError, match=r"Unknown NSD ROI file key\(s\) \['floc-food'\]"):
        import_nsd_rois(roi_files={"floc-food": other}, out_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_stage_entries_take_files_and_settings_from_the_rule(tree, imported, tmp_path: Path):
    """The rules' entry points: sessions sorted from the config, the files named as the rule names them."""
    from cortexplorer.nsd.stage import NsdBetasSettings, NsdRoisSettings, nsd_betas, nsd_rois

    settings = NsdBetasSettings.from_config({"nsd": {"sessions": [2, 1]}}, subject=f"{SUBJECT:02d}")
    assert settings == NsdBetasSettings(subject=SUBJECT, sessions=(1, 2))
    outputs = {"betas": str(tmp_path / "betas.h5"), "ncsnr": str(tmp_path / "ncsnr.nii.gz"),
               "noiseceiling": str(tmp_path / "nc.nii.gz"), "provenance": str(tmp_path / "provenance.json")}
    nsd_betas({"betas": [str(p) for p in tree.betas_files], "expdesign": str(tree.design),
               "ncsnr": [str(tree.root / BETAS_DIR / "ncsnr.nii.gz")],
               "mask": [str(tree.root / ROI_DIR / "nsdgeneral.nii.gz")]}, outputs, settings)
    got, want = read_betas(outputs["betas"]), imported[1]
    assert np.array_equal(got.trial_betas, want.trial_betas) and list(got.trial_stim_id) == list(want.trial_stim_id)
    nsd_rois({k: str(v) for k, v in tree.floc.items()}, {"rois": str(tmp_path / "rois")},
             NsdRoisSettings.from_config({}, subject="02"))
    assert len(read_roi_set(tmp_path / "rois")[0]) == 4 + sum(len(n) for n in NAMES.values())


def test_beta_decoder_retrieves_images_from_imported_nsd_betas(tree, imported, tmp_path: Path):
    """The decoding stage's baseline on the miniature NSD tree's betas (nsd mode's path): embeddings planted as a
    linear map of each image's true response, so a ridge from the betas recovers them and retrieves held-out
    images far above chance."""
    from cortexplorer.decoding.evaluate import Task, score
    from cortexplorer.decoding.settings import BaselineSettings
    from cortexplorer.decoding.stage import baseline_stage, read_predictions
    from cortexplorer.features.extract import write_features

    _, betas = imported
    ids = np.asarray(betas.stim_id).astype(str)
    # image k (0-based, in the subject's list) is nsd id subjectim[SUBJECT-1, k] - 1; its planted response row k
    nsd_of_row = {f"nsd{int(tree.subjectim[SUBJECT - 1, k]) - 1:05d}": k for k in range(len(tree.response))}
    emb = tree.response[[nsd_of_row[s] for s in ids]] @ np.random.default_rng(3).normal(size=(tree.response.shape[1],
                                                                                               16))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    write_features(tmp_path / "features.h5", emb, ids, {"name": "planted"})
    repeated = ids[np.asarray(betas.n_trials) >= 2]
    split = np.where(np.isin(ids, repeated[:40]), "test", "train")
    pd.DataFrame({"stim_id": ids, "category": [f"c{i % 4}" for i in range(len(ids))], "split": split}).to_csv(
        tmp_path / "stimuli.tsv", sep="\t", index=False)
    baseline_stage({"betas": str(imported[0].out_h5), "features": str(tmp_path / "features.h5"),
                    "stimuli": str(tmp_path / "stimuli.tsv")},
                   {"predictions": str(tmp_path / "pred.h5"), "provenance": str(tmp_path / "pred.json")},
                   BaselineSettings(backbone="planted", voxels=0, alphas=(1.0, 10.0, 100.0, 1000.0), n_folds=3,
                                    seed=0))
    preds, tested = read_predictions(str(tmp_path / "pred.h5"))
    assert sorted(tested) == sorted(repeated[:40])
    truth = emb[[list(ids).index(s) for s in tested]]
    halves = np.arange(len(tested)) % 2
    task = Task(tested, truth, halves, ("a", "b"), np.stack([truth[halves == h].mean(0) for h in (0, 1)]), n_way=2)
    top1 = score(preds["baseline/betas/0"], task, n_perm=199, rng=np.random.default_rng(0))["image_top1"]
    assert top1["value"] > 0.5 and top1["p"] < 0.01, top1
