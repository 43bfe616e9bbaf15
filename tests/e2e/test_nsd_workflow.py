"""The whole workflow in NSD mode, end to end, on a miniature NSD tree in the real formats.

The tree holds every file ``data_manifests/nsd.yaml`` lists for subject 1, sessions 1 and 2, so no
fetch job runs. It plants a design (40 images shown over 1500 trials), one voxel whose response
to each image is known, a released ncsnr map and floc label files with known voxel counts.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import scipy.io

from cortexplorer.layout import Layout
from cortexplorer.nsd import load_manifest
from cortexplorer.preprocess.contract import read_betas
from cortexplorer.rois.contract import read_roi_set

from ..nsdfiles import floc_labels, write_nii
from .conftest import ONE_THREAD, REPO, copy_repo, dry_run_jobs, snakemake

SUBJECT, SESSIONS = 1, (1, 2)
SHAPE = (6, 7, 5)
AFFINE = np.array([[1.8, 0, 0, -5.0], [0, 1.8, 0, -6.0], [0, 0, 1.8, -4.0], [0, 0, 0, 1]])
N_IMAGES = 40  # images in each subject's row of subjectim
N_BRICK = 60  # images in the miniature imgBrick (73k ids 0..59)
TRIALS = 750
PLANTED_IJK = (2, 3, 2)  # the voxel whose per-image response is planted
NOISE_IJK = (3, 4, 3)  # an in-mask voxel of pure noise
SUBJ = "subj01"
BETAS_DIR = f"nsddata_betas/ppdata/{SUBJ}/func1pt8mm/betas_fithrf_GLMdenoise_RR"
FUNC_DIR = f"nsddata/ppdata/{SUBJ}/func1pt8mm"
ROI_DIR = f"{FUNC_DIR}/roi"
EXP_DIR = "nsddata/experiments/nsd"
# planted floc labels: file -> {label: voxel count}
FLOC = {
    "floc-faces": {1: 3, 2: 4, 3: 2},
    "floc-places": {1: 5, 2: 6, 3: 2},
    "floc-bodies": {1: 7, 2: 2},
    "floc-words": {1: 2, 2: 3, 4: 1},
}


def _nii(data: np.ndarray, path: Path, affine: np.ndarray = AFFINE) -> Path:
    return write_nii(data, path, affine)


def write_mini_nsd(root: Path, seed: int = 3) -> SimpleNamespace:
    """Write every manifest file of subject 1, sessions 1-2, under ``root`` (the bucket layout)."""
    rng = np.random.default_rng(seed)
    # design: 8 subjects × 40 images (1-based 73k ids < N_BRICK); 30000 trials into the subject's 40
    subjectim = np.stack([rng.choice(N_BRICK, N_IMAGES, replace=False) + 1 for _ in range(8)]).astype(np.float64)
    order = rng.integers(1, N_IMAGES + 1, 30000)
    order[: N_IMAGES] = np.arange(1, N_IMAGES + 1)  # every image is shown in session 1
    (root / EXP_DIR).mkdir(parents=True)
    shared = np.sort(rng.choice(N_IMAGES, 5, replace=False)) + 1  # 1-based into subjectim's columns
    scipy.io.savemat(root / EXP_DIR / "nsd_expdesign.mat",
                     {"masterordering": order[None, :].astype(np.float64), "subjectim": subjectim,
                      "sharedix": shared[None, :].astype(np.float64)})
    shared_ids = set((subjectim[0, shared - 1] - 1).astype(int).tolist())  # 0-based 73k ids
    info = pd.DataFrame({"cocoId": 500_000 + np.arange(N_BRICK), "nsdId": np.arange(N_BRICK),
                         "shared1000": [i in shared_ids for i in range(N_BRICK)]})
    info.to_csv(root / EXP_DIR / "nsd_stim_info_merged.csv")  # with the unnamed index column, as NSD's
    # stimuli: smooth images (a colour per image plus a ramp), compressed per image
    stim = root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    stim.parent.mkdir(parents=True)
    ramp = np.linspace(0, 60, 425, dtype=np.float32)[None, :, None]
    colours = rng.integers(0, 190, (N_BRICK, 1, 1, 3)).astype(np.float32)
    brick = (colours + ramp[None]).astype(np.uint8)  # N_BRICK × 1 × 425 × 3
    with h5py.File(stim, "w") as f:
        f.create_dataset("imgBrick", data=np.broadcast_to(brick, (N_BRICK, 425, 425, 3)), chunks=(1, 425, 425, 3),
                         compression="gzip")
    # nsdgeneral: -1 outside the brain, 0 unlabelled, 1 in a block
    general = np.zeros(SHAPE, dtype=np.int16)
    general[0], general[-1] = -1, -1
    general[1:5, 1:6, 1:4] = 1
    mask = general > 0
    assert mask[PLANTED_IJK] and mask[NOISE_IJK]
    _nii(general, root / ROI_DIR / "nsdgeneral.nii.gz")
    _nii(rng.integers(0, 8, SHAPE).astype(np.int16) * (general >= 0), root / ROI_DIR / "prf-visualrois.nii.gz")
    for key, counts in FLOC.items():
        _nii(floc_labels(SHAPE, counts, rng), root / ROI_DIR / f"{key}.nii.gz")
    for name in ("faces", "places", "bodies", "characters"):
        _nii(rng.normal(0, 2, SHAPE).astype(np.float32), root / FUNC_DIR / f"floc_{name}tval.nii.gz")
    ncsnr = rng.uniform(0.1, 1.5, SHAPE).astype(np.float32)
    _nii(ncsnr, root / BETAS_DIR / "ncsnr.nii.gz")
    # betas (int16 = PSC × 300): noise everywhere; the planted voxel adds response[image] × scale + offset
    response = rng.normal(0, 1, N_IMAGES)
    for i, s in enumerate(SESSIONS):
        images = order[(s - 1) * TRIALS : s * TRIALS] - 1  # 0-based columns of subjectim
        psc = rng.normal(0, 1, (*SHAPE, TRIALS))
        psc[PLANTED_IJK] = response[images] * (1.5 + i) + 2.0 * (i - 0.5) + rng.normal(0, 0.7, TRIALS)
        vol = np.round(psc * 300).astype(np.int16)
        vol[general == -1] = 32000  # never read
        _nii(vol, root / BETAS_DIR / f"betas_session{s:02d}.nii.gz")
    return SimpleNamespace(root=root, subjectim=subjectim, order=order, response=response, ncsnr=ncsnr,
                           general=general, mask=mask, shared_ids=shared_ids)


def write_bank_tars(root: Path, names: list[str], per_shard: int, duplicate: tuple[int, int, int, int],
                    corrupt: tuple[int, int]) -> None:
    """WebDataset-style tar shards of small JPEG photos ('SSII.jpg' plus a caption member each); image ``duplicate[:2]``
    repeats the bytes of ``duplicate[2:]`` and image ``corrupt`` is not an image."""
    import io
    import tarfile

    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    data = {}
    for s in range(len(names)):
        for i in range(per_shard):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(buf, format="JPEG")
            data[s, i] = buf.getvalue()
    data[duplicate[:2]] = data[duplicate[2:]]
    data[corrupt] = b"<html>403 Forbidden</html>"
    for s, name in enumerate(names):
        with tarfile.open(root / f"{name}.tar", "w") as tar:
            for i in range(per_shard):
                for member, payload in ((f"{s:02d}{i:02d}.jpg", data[s, i]), (f"{s:02d}{i:02d}.txt", b"a photo")):
                    info = tarfile.TarInfo(member)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))


def test_mini_tree_holds_every_manifest_file(tmp_path: Path):
    tree = write_mini_nsd(tmp_path / "nsd")
    wanted = {f.path for f in load_manifest(REPO / "data_manifests" / "nsd.yaml").select([SUBJECT], list(SESSIONS))}
    written = {str(p.relative_to(tree.root)) for p in tree.root.rglob("*") if p.is_file()}
    assert written == wanted


@pytest.mark.slow
def test_nsd_workflow_end_to_end(tmp_path: Path):
    tree = write_mini_nsd(tmp_path / "nsd")
    repo = copy_repo(tmp_path / "repo")
    cfg = tmp_path / "nsdmini.yaml"
    # open_clip, Stable Diffusion and a torchvision VGG at tiny size, loaded offline by the real code paths
    from tests.tiny_models import tiny_real_models

    models = tiny_real_models(tmp_path)
    clip, weights, vgg_weights, revision = models["clip"], tmp_path / "tiny_clip.pt", tmp_path / "vgg11.pth", "2" * 40
    # BrainSCUBA: a bank built from a lab's images in four WebDataset-style tar shards (one duplicate, one corrupt
    # file), and a CLIPCap checkpoint in the old format with a local GPT-2 folder (the real loading path, at tiny size)
    from tests.tiny_models import tiny_clipcap_checkpoint, tiny_gpt2_folder

    bank_shards = [f"laion-{k:05d}" for k in range(4)]
    write_bank_tars(tmp_path / "bank", bank_shards, per_shard=50, duplicate=(2, 3, 0, 0), corrupt=(3, 7))
    gpt2_config = tiny_gpt2_folder(tmp_path / "gpt2")
    tiny_clipcap_checkpoint(tmp_path / "coco_weights.pt", gpt2_config, prefix_size=512)
    cfg.write_text("dataset: {name: nsdmini, mode: nsd}\n"
                   f"nsd: {{root: '{tree.root}', subjects: [1], sessions: [1, 2], image_size: 32}}\n"
                   "report: {html: reports/nsdmini/index.html}\n"
                   f"features: {{backbones: {{tiny: {clip}}}}}\n"
                   f"braindive: {{diffusion: {models['diffusion']}, regions: [faces, places], n_seeds: 4, steps: 2, "
                   f"batch_size: 4, classifier: {clip}}}\n"
                   f"networks: {models['networks']}\n"
                   "visual_search: {experiments: [curvature], scale: 0.25, trials_per_set_size: 1}\n"
                   "triplets: {n_bins: 2, bin_size: 0.3, tolerance: 0.5, max_triplets: 4, observers: {n: 2, trials: 60}, cv_folds: 2, "
                   "predictivity_layers: [pool4, pool5]}\n"
                   f"brainscuba: {{bank_images: '{tmp_path / 'bank'}', repeats: 2, max_length: 12, "
                   # the random tiny CLIP predicts nothing: every voxel with a noise-normalised R² is captioned
                   "min_score: {metric: r2_noise_normalised, value: -.inf}, "
                   f"captioner: {{kind: clipcap, weights: '{tmp_path / 'coco_weights.pt'}', "
                   f"gpt2: '{tmp_path / 'gpt2'}'}}, images: {{n_captions: 1, seeds_per_caption: 2, steps: 2}}}}\n")

    jobs = dry_run_jobs(snakemake(repo, "-n", "--cores", "2", "--configfile", str(cfg)))
    assert "fetch_nsd" not in jobs  # every file is present
    for rule in ("preprocess_nsd", "rois_nsd", "stimuli_nsd", "report_dashboard", "features", "encoder",
                 "braindive_unguided", "braindive_evaluate"):
        assert jobs.get(rule) == 1, jobs
    assert jobs.get("braindive") == 2, jobs
    assert jobs.get("visual_search") == 4 and jobs.get("triplet_fit") == 1, jobs  # eccnet, ivsn and 2 baselines
    assert "demo_cnn" not in jobs and "odd_one_out" not in jobs  # no THINGS file given
    for rule in ("brainscuba_project", "brainscuba_captions", "brainscuba_semantics", "brainscuba_images"):
        assert jobs.get(rule) == 1, jobs
    assert "brainscuba_bank" not in jobs and "demo_captioner" not in jobs
    assert jobs.get("brainscuba_bank_index") == 1 and jobs.get("brainscuba_bank_manifest") == 1, jobs
    assert jobs.get("brainscuba_bank_shard") == len(bank_shards), jobs

    # the bank build interrupted after two of its four shards: the rerun builds only the other two
    L = Layout("nsdmini")
    snakemake(repo, L.brainscuba_bank_build().index, *(L.brainscuba_bank_shard(name) for name in bank_shards[:2]),
              "--cores", "2", *ONE_THREAD, "--configfile", str(cfg), timeout=300)
    jobs = dry_run_jobs(snakemake(repo, "-n", "--cores", "2", "--configfile", str(cfg)))
    assert jobs.get("brainscuba_bank_shard") == 2 and "brainscuba_bank_index" not in jobs, jobs
    assert jobs.get("brainscuba_bank_manifest") == 1, jobs

    snakemake(repo, "--cores", "2", *ONE_THREAD, "--configfile", str(cfg), timeout=300)

    # betas: 1500 trials mapped to the planted design, z-scored per session, the planted voxel recovered
    b = read_betas(repo / L.preprocess("01").betas)
    n_trials = TRIALS * len(SESSIONS)
    row = tree.subjectim[SUBJECT - 1].astype(int)
    expected = np.array([f"nsd{row[i - 1] - 1:05d}" for i in tree.order[:n_trials]])
    assert b.trial_betas.shape == (n_trials, int(tree.mask.sum()))
    np.testing.assert_array_equal(b.trial_stim_id, expected)
    np.testing.assert_array_equal(b.trial_session, np.repeat(SESSIONS, TRIALS))
    np.testing.assert_array_equal(b.voxel_ijk, np.argwhere(tree.mask))
    ids, counts = np.unique(expected, return_counts=True)
    np.testing.assert_array_equal(b.stim_id, ids)
    np.testing.assert_array_equal(b.n_trials, counts)
    for s in SESSIONS:
        t = b.trial_betas[b.trial_session == s].astype(np.float64)
        np.testing.assert_allclose(t.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(t.std(0), 1, atol=1e-4)
    column = {f"nsd{sid - 1:05d}": k for k, sid in enumerate(row)}
    planted = tree.response[[column[s] for s in b.stim_id]]
    voxel = {tuple(ijk): v for v, ijk in enumerate(b.voxel_ijk.tolist())}
    assert np.corrcoef(b.betas[:, voxel[PLANTED_IJK]], planted)[0, 1] > 0.9
    assert abs(np.corrcoef(b.betas[:, voxel[NOISE_IJK]], planted)[0, 1]) < 0.6

    # ncsnr: NSD's released map inside nsdgeneral, 0 outside
    ncsnr = nib.load(repo / L.preprocess("01").ncsnr)
    assert ncsnr.shape == SHAPE and np.allclose(ncsnr.affine, AFFINE)
    data = ncsnr.get_fdata()
    np.testing.assert_allclose(data[tree.mask], tree.ncsnr[tree.mask], rtol=1e-6)
    assert np.all(data[~tree.mask] == 0)

    # stimuli: the subject's 40 images at 32 px, shared1000 as the test split
    table = pd.read_csv(repo / L.stimuli().table, sep="\t")
    assert sorted(table["nsd_id"]) == sorted((row - 1).tolist())
    assert set(table.loc[table["split"] == "test", "nsd_id"]) == tree.shared_ids
    with h5py.File(repo / L.stimuli().images, "r") as f:
        assert f["images"].shape == (N_IMAGES, 32, 32, 3)

    # rois: the planted domain and subregion voxel counts
    rois, images = read_roi_set(repo / L.rois("01").rois)
    n = dict(zip(rois["roi"], rois["n_voxels"], strict=True))
    for key, labels in FLOC.items():
        assert n[key.removeprefix("floc-")] == sum(labels.values())
    assert n["FFA-1"] == 4 and n["PPA"] == 6 and n["EBA"] == 7 and n["mfs-words"] == 1
    assert "FFA-2" in n and "FBA-2" not in n and "VWFA-2" not in n  # subregions with no voxel are left out
    assert np.allclose(images["faces"].affine, AFFINE)

    # features and encoder through the open_clip weight file; the shared images are the test split
    from cortexplorer.encoder import VoxelEncoder
    from cortexplorer.features import read_features
    from cortexplorer.models import file_sha256

    feats = read_features(repo / L.features("tiny").features)
    assert feats.features.shape == (N_IMAGES, 512) and feats.identity["weights_sha256"] == file_sha256(weights)
    enc = VoxelEncoder.load(repo / L.encoder("01", "tiny").model)
    assert enc.weight.shape == (512, int(tree.mask.sum())) and enc.identity == feats.identity
    prov = json.loads((repo / L.encoder("01", "tiny").provenance).read_text())
    assert prov["n_test_stimuli"] == len(tree.shared_ids) and prov["n_train_rows"] == N_IMAGES - len(tree.shared_ids)

    # BrainDiVE through Stable Diffusion's components from the hub cache, judged by open_clip zero-shot
    from cortexplorer.io.tables import read_tsv

    scores = read_tsv(repo / L.braindive("01", "faces").scores)
    assert len(scores) == 4 and scores["kept"].sum() == 1 and (scores["status"] == "ok").all()
    sd = json.loads((repo / L.braindive("01", "faces").provenance).read_text())
    assert sd["diffusion_identity"] == {"kind": "stable_diffusion", "model_id": "someone/tiny-sd", "revision": "main",
                                        "commit": revision}
    summary = read_tsv(repo / L.braindive_evaluation("01").summary).set_index("region")
    assert list(summary.index) == ["faces", "places"] and "true_kept" not in summary  # no truth outside the demo
    assert summary["share_kept"].between(0, 1).all() and summary["share_top_measured"].between(0, 1).all()
    ev = json.loads((repo / L.braindive_evaluation("01").provenance).read_text())
    assert "zero-shot" in ev["classifier"]

    # visual search and triplets through the torchvision weight file
    for prov_path in (repo / L.visual_search("eccnet", "curvature").provenance,
                      repo / L.triplet_fit().provenance):
        network = json.loads(prov_path.read_text())["network"]
        assert network["arch"] == "vgg11" and network["weights_sha256"] == file_sha256(vgg_weights)
    predictivity = read_tsv(repo / L.triplet_fit().predictivity)
    assert list(predictivity["alias"].fillna("")) == ["", "pool4", "pool5"]

    # BrainSCUBA: the bank embedded with the captioned backbone (the duplicate dropped, the corrupt image skipped
    # with a log line), two disjoint halves of it, every voxel captioned per repeat by the old-format CLIPCap
    # checkpoint, semantics per region, images through Stable Diffusion's text conditioning
    build = json.loads((repo / L.brainscuba_bank_build().provenance).read_text())
    assert (build["n_shards"], build["n_images"], build["n_corrupt"], build["n_duplicates"]) == (4, 198, 1, 1)
    assert "skipped corrupt image '0307.jpg'" in (repo / L.log(f"brainscuba_bank_shard_{bank_shards[3]}")).read_text()
    with h5py.File(repo / L.brainscuba_bank_shard(bank_shards[0])) as f:
        assert f["features"].shape == (50, 512) and f.attrs["identity"] and np.isfinite(f["features"][()]).all()
    proj = json.loads((repo / L.brainscuba_projection("01").provenance).read_text())
    assert proj["n_bank_rows"] == 198 and proj["bank_rows_read"] == [99, 99]
    captions = read_tsv(repo / L.brainscuba_captions("01").captions)
    scored = np.isfinite(read_tsv(repo / L.encoder("01", "tiny").metrics)["r2_noise_normalised"])
    assert scored.sum() > 0.9 * int(tree.mask.sum()) and proj["n_voxels_projected"] == scored.sum()
    assert len(captions) == 2 * scored.sum() and set(captions["repeat"]) == {0, 1}
    cap_prov = json.loads((repo / L.brainscuba_captions("01").provenance).read_text())
    # voxels whose encoder weights are all zero get no caption (n/a), counted in the provenance
    assert captions["caption"].isna().sum() == cap_prov["n_skipped"] < len(captions) / 2
    assert captions["caption"].dropna().str.len().gt(0).all()
    assert set(",".join(captions["roi"].dropna()).split(",")) == {"faces", "places"}
    assert cap_prov["captioner_identity"]["weights_sha256"] == file_sha256(tmp_path / "coco_weights.pt")
    sem = read_tsv(repo / L.brainscuba_semantics("01").regions)
    assert list(sem["region"]) == ["faces", "places"]
    bs_summary = read_tsv(repo / L.brainscuba_images("01").summary)
    assert list(bs_summary["region"]) == ["faces", "places"] and "true_caption" not in bs_summary
    assert bs_summary["n_images"].eq(2).all() and np.isfinite(bs_summary["predicted_caption"]).all()
    assert bs_summary["share_caption"].between(0, 1).all() and bs_summary["share_unguided"].between(0, 1).all()
    bs_ev = json.loads((repo / L.brainscuba_images("01").provenance).read_text())
    assert "zero-shot" in bs_ev["classifier"]  # the braindive.classifier, as in BrainDiVE's evaluation

    html = (repo / "reports" / "nsdmini" / "index.html").read_text()
    assert "BrainSCUBA: a caption for every voxel" in html
    assert "Single-trial responses" in html and "Category-selective regions" in html and "Voxelwise encoders" in html
    assert "Visual search: eccNET, IVSN and baselines" in html and "Triplets: low- versus high-level" in html

    proc = snakemake(repo, "-n", "--cores", "2", "--configfile", str(cfg))
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_montage_of_nsd_images_without_categories(tmp_path: Path):
    """NSD ships no categories: the montage should show one 'n/a' row of images, not one empty row per image
    (with 10,000 images at 224 px that canvas would be ~3,700 × 4,500,000 px)."""
    from cortexplorer.io.images import ImageSet, read_image_dir, write_image_set
    from cortexplorer.report.figures import category_montage

    rng = np.random.default_rng(0)
    images = rng.integers(1, 255, (12, 16, 16, 3), dtype=np.uint8)
    table = pd.DataFrame({"stim_id": [f"nsd{i:05d}" for i in range(12)], "category": pd.NA, "caption": pd.NA,
                          "split": "train"})
    write_image_set(ImageSet(images, table), tmp_path / "images.h5", tmp_path / "stimuli.tsv")
    montage = category_montage(read_image_dir(tmp_path), per_category=4, scale=2)
    assert montage.size[1] == 2 * 16 + 4  # one row
    assert np.asarray(montage)[:, 90:].min() < 255  # with images in it
