"""The workflow itself: lint, dry runs of every shipped config, a real smoke run, resumability."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from .conftest import SMOKE, dry_run_jobs, snakemake


def test_lint_is_clean(workdir: Path):
    proc = snakemake(workdir, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


# visual search (6 experiments × 2 models) and triplets, in every mode
BEHAVIOUR = {"visual_search_stimuli": 6, "visual_search": 24, "visual_search_summary": 1, "triplet_search": 1,
             "triplet_choices": 1, "triplet_fit": 1}


# the scanpaths stage (demo only, unless scanpaths.enabled): one eccNET and one IVSN search
DECODING = {"decoding_windows": 1, "decoding_baseline": 1, "decoding_wave": 1, "decoding_images": 1,
            "decoding_evaluate": 1}
SCANPATHS = {"scanpath_displays": 1, "scanpath_observe": 1, "scanpath_train": 1, "scanpath_pixel_search": 2,
             "scanpath_evaluate": 1}


# BrainSCUBA per subject (demo; elsewhere only with a bank and captioner weights configured)
BRAINSCUBA = {"brainscuba_project": 1, "brainscuba_captions": 1, "brainscuba_semantics": 1, "brainscuba_images": 1}


def test_demo_dry_run(workdir: Path):
    """The default demo: two simulated participants, every subject-level job once per participant."""
    jobs = dry_run_jobs(snakemake(workdir, "-n"))
    per_subject = {"simulate": 1, "preprocess": 1, "rois": 1, "encoder": 1, "braindive": 8, "braindive_evaluate": 1,
                   **BRAINSCUBA, **DECODING}
    assert jobs == {"all": 1, "oracle": 1, "report_dashboard": 1, "simulate_dataset": 1, "stimuli_demo": 3,
                    "demo_clip": 1, "features": 1, "demo_diffusion": 1, "demo_prior": 1, "braindive_unguided": 1,
                    **BEHAVIOUR, **SCANPATHS, "demo_cnn": 1, "odd_one_out": 1, "brainscuba_bank": 1,
                    "demo_captioner": 1, "group_summary": 1, **{job: 2 * n for job, n in per_subject.items()}}


def test_profiles_parse(workdir: Path):
    """The local profile (GPU cap) and the SLURM profile are accepted by Snakemake."""
    assert dry_run_jobs(snakemake(workdir, "-n", "--profile", "profiles/local"))["oracle"] == 1
    proc = snakemake(workdir, "-n", "--profile", "profiles/slurm")
    assert dry_run_jobs(proc)["simulate"] == 2
    # rules take every core Snakemake is given (the workflow profile says `cores: all`, i.e. the submit host's):
    # on a 64-core login node each cluster job would ask SLURM for 64 CPUs; the SLURM profile caps it
    proc = snakemake(workdir, "-n", "--profile", "profiles/slurm", "--cores", "64")
    threads = [int(t) for t in re.findall(r"^\s+threads: (\d+)$", proc.stdout + proc.stderr, re.M)]
    assert threads and max(threads) == 8, threads


def test_nsd_dry_run_lists_fetch_jobs_offline(workdir: Path):
    jobs = dry_run_jobs(snakemake(workdir, "-n", "--configfile", "config/nsd.yaml"))
    # 3 shared files + 11 per subject + 4 sessions of betas for subject 1
    assert jobs["fetch_nsd"] == 18
    assert jobs["stimuli_nsd"] == 1 and jobs["report_dashboard"] == 1
    assert jobs["preprocess_nsd"] == 1 and jobs["rois_nsd"] == 1
    # BrainDiVE's and BrainSCUBA's backbones by default (weights are looked up only when the job runs)
    assert jobs["features"] == 2 and jobs["encoder"] == 2 and "demo_clip" not in jobs


def test_nsd_fetches_only_missing_files(workdir: Path, tmp_path: Path):
    root = tmp_path / "nsd"
    present = root / "nsddata/experiments/nsd/nsd_expdesign.mat"
    present.parent.mkdir(parents=True)
    present.write_bytes(b"already here")
    cfg = tmp_path / "nsd.yaml"
    cfg.write_text(f"dataset: {{name: nsd, mode: nsd}}\nnsd:\n  root: {root}\n  sessions: [1, 2]\n")
    jobs = dry_run_jobs(snakemake(workdir, "-n", "--configfile", str(cfg)))
    assert jobs["fetch_nsd"] == 3 + 11 + 2 - 1


def test_bids_dry_run(workdir: Path, tmp_path: Path):
    (tmp_path / "bids" / "stimuli").mkdir(parents=True)
    (tmp_path / "bids" / "dataset_description.json").write_text('{"Name": "mine", "BIDSVersion": "1.9.0"}')
    for task in ("nsd", "floc"):  # one participant's run of each task, as empty files
        base = f"sub-01_task-{task}_run-1"
        for name in (f"sub-01/func/{base}_events.tsv",
                     f"derivatives/fmriprep/sub-01/func/{base}_space-MNI152NLin2009aSym_desc-preproc_bold.nii.gz"):
            (tmp_path / "bids" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "bids" / name).touch()
    cfg = tmp_path / "bids.yaml"
    cfg.write_text(f"dataset: {{name: mine, mode: bids}}\nbids:\n  root: {tmp_path}/bids\n"
                   f"  stimuli_dir: {tmp_path}/bids/stimuli\nreport:\n  html: reports/mine/index.html\n")
    jobs = dry_run_jobs(snakemake(workdir, "-n", "--configfile", str(cfg)))
    assert jobs == {"all": 1, "report_dashboard": 1, "stimuli_folder": 1, "preprocess": 1, "rois": 1, "features": 2,
                    "encoder": 2, "braindive_unguided": 1, "braindive": 4, "braindive_evaluate": 1, **BEHAVIOUR,
                    "group_summary": 1}
    cfg.write_text(cfg.read_text() + "features:\n  backbones:\n    mine: {kind: demo_clip}\n")
    proc = snakemake(workdir, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0 and "only exists in demo mode" in proc.stderr + proc.stdout


# what config/smoke.yaml asks for
SUB, BACKBONE = "01", "democlip"
REGIONS = ["faces", "places", "V1"]  # braindive.regions and brainscuba.regions
N_STIMULI, N_POOL, N_LOCALIZER, SIDE = 120, 240, 16 * 5, 32  # stimuli.*: 16 per localizer category
N_SEEDS, N_KEPT, SAMPLE_SIDE = 10, 2, 16  # braindive.n_seeds × keep_fraction 0.2; demo_diffusion.image_size
N_FEATURES = 512  # the demo CLIP's embedding
STIMULUS_COLUMNS = ["stim_id", "category", "caption", "split", "kind", "colour", "size", "position", "background",
                    "background_style", "pose", "word", "jitter_x", "jitter_y", "tone", "detail_seed"]


def _tsv(path: Path, columns: list[str], rows: int):

    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == columns, f"{path}: columns {list(table.columns)}"
    assert len(table) == rows, f"{path}: {len(table)} rows, expected {rows}"
    return table


def _h5(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    import h5py

    with h5py.File(path, "r") as f:
        got = {name: f[name].shape if name in f else None for name in shapes}
    assert got == shapes, f"{path}: {got}"


def _png(path: Path, size: tuple[int, int] | None = None) -> None:
    """A PNG that decodes: of exactly ``size`` (image grids), or a figure of at least 200 × 200 px, not blank."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG", path
        im.load()
        if size is not None:
            assert im.size == size, f"{path}: {im.size}, expected {size}"
        else:
            assert min(im.size) >= 200, f"{path}: {im.size}"
            low, high = im.convert("L").getextrema()
            assert low < high, f"{path} is blank"


def _pngs(folder: Path) -> list[str]:
    """The images in a folder output (Snakemake adds a hidden timestamp file)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _nii(path: Path, grid) -> None:
    import nibabel as nib
    import numpy as np

    img = nib.load(path)
    assert img.shape == grid[0] and np.allclose(img.affine, grid[1]), f"{path}: {img.shape}, not on the grid"


def _torch_dict(path: Path, keys: set[str]) -> dict:
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    assert isinstance(obj, dict) and keys <= set(obj), f"{path}: {type(obj).__name__} {list(obj)[:8]}"
    return obj


def _json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def _check_stimuli_truth_and_bids(run: Path, n_vox: int, grid) -> None:
    for name, n in (("stimuli", N_STIMULI), ("pool", N_POOL), ("localizer", N_LOCALIZER)):
        s = SMOKE.image_set(name)
        _h5(run / s.images, {"images": (n, SIDE, SIDE, 3), "stim_id": (n,)})
        _tsv(run / s.table, STIMULUS_COLUMNS, n)
    oracle = SMOKE.oracle()
    metrics = _tsv(run / oracle.metrics, ["category", "n_heldout", "accuracy"], 7)
    assert list(metrics["category"]) == ["all", "face", "place", "body", "food", "word", "object"]
    assert metrics["n_heldout"].iloc[0] == 300 and metrics["accuracy"].between(0, 1).all()  # oracle.n_heldout
    _torch_dict(run / oracle.model, {"config", "image_size", "state_dict"})
    sim = SMOKE.simulated_subject("01")
    _h5(run / sim.truth / "responses.h5", {"stimulus_responses": (N_STIMULI, n_vox),
                                           "localizer_responses": (N_LOCALIZER, n_vox), "voxel_ijk": (n_vox, 3)})
    regions = _tsv(run / sim.truth_regions, ["label", "roi", "category", "n_voxels"], 11)
    assert {"FFA", "PPA", "V1"} <= set(regions["roi"]) and (regions["n_voxels"] > 0).all()
    _nii(run / sim.truth_atlas, grid)
    assert _json(run / SMOKE.simulation().description)["DatasetType"] == "raw"
    assert _json(run / SMOKE.simulation().derivatives)["DatasetType"] == "derivative"
    participants = (run / SMOKE.simulation().participants).read_text().split()
    assert participants == ["participant_id", "species", "sub-01", "simulated"]


def _check_preprocess_and_rois(run: Path, n_vox: int, grid) -> None:
    pre = SMOKE.preprocess(SUB)
    for nii in (pre.ncsnr, pre.noiseceiling, pre.r2, pre.hrf_index, pre.frac):
        _nii(run / nii, grid)
    steps = _tsv(run / pre.steps, ["step", "voxels", "n_voxels", "repeat_reliability", "truth_r"], 8)
    assert set(steps["step"]) == {"assumehrf", "fithrf", "fithrf_glmdenoise", "fithrf_glmdenoise_rr"}
    for png in ("recipe.png", "maps.png", "design.png"):
        _png(run / pre.qc / png)
    rois = SMOKE.rois(SUB)
    table = _tsv(run / rois.table, ["roi", "category", "n_voxels", "threshold", "source", "dice_vs_truth",
                                    "n_voxels_true"], 5)
    assert list(table["roi"]) == ["bodies", "faces", "places", "words", "food"]
    _nii(run / rois.rois / "faces.nii.gz", grid)
    _nii(run / rois.rois / "stats" / "faces_tstat.nii.gz", grid)
    assert _json(run / rois.rois / "provenance.json")


def _check_models_features_encoder(run: Path, n_vox: int, grid) -> None:
    clip = SMOKE.demo_clip()
    _tsv(run / clip.retrieval, ["metric", "value"], 7)
    _tsv(run / clip.curve, ["epoch", "step", "train_loss", "heldout_loss"], 3)  # demo_clip.epochs
    _torch_dict(run / clip.model, {"arch", "image_size", "state_dict"})
    diffusion = SMOKE.demo_diffusion()
    _tsv(run / diffusion.curve, ["step", "loss"], 3)
    _torch_dict(run / diffusion.model, {"unet_config", "state_dict", "scheduler_config", "image_size"})
    prior = SMOKE.demo_prior()
    _png(run / prior.samples, (4 * (2 * SAMPLE_SIDE + 2), 3 * (2 * SAMPLE_SIDE + 2)))  # 12 samples, 4 × 3 at 2× size
    quality = _tsv(run / prior.quality, ["measure", "samples", "world", "bar"], 5).set_index("measure")
    assert quality.loc["images", "samples"] == 12 and quality.loc["images", "world"] == 24  # demo_prior.n_*
    assert 0 <= quality.loc["category total variation (oracle)", "samples"] <= 1
    assert quality.loc["Fréchet distance in oracle features", ["samples", "world"]].min() >= 0
    shares = _tsv(run / prior.categories, ["category", "samples", "world"], 6)
    assert shares["samples"].sum() == pytest.approx(1, abs=1e-5) and shares["world"].sum() == pytest.approx(1, abs=1e-5)
    cnn = SMOKE.demo_cnn()
    _tsv(run / cnn.curve, ["epoch", "train_loss", "heldout_accuracy"], 1)  # demo_cnn.epochs
    _torch_dict(run / cnn.model, {"arch", "width", "classes", "image_size"})
    captioner = SMOKE.demo_captioner()
    _tsv(run / captioner.curve, ["epoch", "train_loss", "heldout_loss"], 2)  # demo_captioner.epochs
    _torch_dict(run / captioner.model, {"arch", "state_dict", "tokenizer", "config"})
    features = SMOKE.features(BACKBONE)
    _h5(run / features.features, {"features": (N_STIMULI, N_FEATURES), "stim_id": (N_STIMULI,)})
    assert _json(run / features.provenance)
    enc = SMOKE.encoder(SUB, BACKBONE)
    model = _torch_dict(run / enc.model, {"weight", "bias", "voxel_ijk", "shape"})
    assert tuple(model["weight"].shape) == (N_FEATURES, n_vox)
    metrics = _tsv(run / enc.metrics, ["voxel", "i", "j", "k", "alpha", "r", "r2", "noise_ceiling",
                                       "r2_noise_normalised", "region", "r_truth", "region_planted"], n_vox)
    assert metrics["r"].between(-1, 1).all()
    regions = _tsv(run / enc.regions, ["region", "source", "n_voxels", "median_r", "median_r2", "median_noise_ceiling",
                                       "median_r2_noise_normalised", "median_r_truth"], 17)
    assert regions["region"].iloc[-1] == "all voxels" and regions["n_voxels"].iloc[-1] == n_vox
    _nii(run / enc.r2, grid)
    _nii(run / enc.r2nn, grid)
    _png(run / enc.qc)


def _check_braindive(run: Path) -> None:
    unguided = SMOKE.braindive_unguided()
    seeds = _tsv(run / unguided.table, ["seed", "file", "status"], N_SEEDS)
    assert _pngs(run / unguided.images) == sorted(seeds["file"])
    _png(run / unguided.grid, (10 * (3 * SAMPLE_SIDE + 2), 3 * SAMPLE_SIDE + 2))  # 10 per row, 3× enlarged
    for region in REGIONS:
        d = SMOKE.braindive(SUB, region)
        scores = _tsv(run / d.scores, ["seed", "file", "predicted", "rank", "kept", "status"], N_SEEDS)
        assert scores["kept"].sum() == N_KEPT and (scores["status"] == "ok").all()
        assert _pngs(run / d.images) == sorted(scores["file"])
        _png(run / d.grid, (N_KEPT * (3 * SAMPLE_SIDE + 2), 3 * SAMPLE_SIDE + 2 + 14))  # with a label row
    ev = SMOKE.braindive_evaluation(SUB)
    summary = _tsv(run / ev.summary, [
        "region", "category", "n_voxels", "n_kept", "n_unguided", "predicted_kept", "share_kept", "true_kept",
        "predicted_unguided", "share_unguided", "true_unguided", "predicted_top_measured", "share_top_measured",
        "true_top_measured", "predicted_top_predicted", "share_top_predicted", "true_top_predicted",
        "predicted_unguided_sd", "true_unguided_sd", "true_effect_sd", "share_ratio", "share_kept_cnn",
        "share_unguided_cnn", "share_top_measured_cnn", "share_top_predicted_cnn"], len(REGIONS))
    assert list(summary["region"]) == REGIONS and (summary["n_kept"] == N_KEPT).all()
    _tsv(run / ev.images, ["region", "set", "id", "predicted", "label", "true", "measured"], 18)
    _png(run / ev.figure)
    _png(run / ev.grids)


def _check_brainscuba(run: Path, n_vox: int) -> None:
    import numpy as np

    from cortexplorer.config import mode_default

    _h5(run / SMOKE.brainscuba_bank().features, {"features": (N_POOL, N_FEATURES), "stim_id": (N_POOL,)})
    # only voxels the encoder predicts well are projected and captioned (the demo's brainscuba.min_score)
    threshold = mode_default("demo", "brainscuba.min_score")
    score = pd.read_csv(run / SMOKE.encoder(SUB, BACKBONE).metrics, sep="\t")[threshold["metric"]]
    fitted = np.flatnonzero(score >= threshold["value"])
    assert 0 < len(fitted) < n_vox
    _h5(run / SMOKE.brainscuba_projection(SUB).projection, {"projected": (1, len(fitted), N_FEATURES),
        "effective_images": (1, len(fitted)), "voxel": (len(fitted),), "voxel_ijk": (len(fitted), 3)})
    captions = _tsv(run / SMOKE.brainscuba_captions(SUB).captions,
                    ["voxel", "i", "j", "k", "repeat", "roi", "caption"], len(fitted))  # brainscuba.repeats: 1
    assert captions["caption"].notna().any() and list(captions["voxel"]) == list(fitted)
    sem = SMOKE.brainscuba_semantics(SUB)
    regions = _tsv(run / sem.regions, [
        "region", "category", "n_voxels", "n_voxels_region", "share_named", "share_named_other_voxels", "ratio", "first_animal",
        "first_body", "first_face", "first_food", "first_object", "first_place", "first_word", "first_none"],
        len(REGIONS))
    assert list(regions["region"]) == REGIONS
    _tsv(run / sem.nouns, ["region", "rank", "noun", "count", "share_of_captions"], 3)
    _tsv(run / sem.examples, ["region", "voxel", "caption", "category"], 5 * len(REGIONS))
    _png(run / sem.category_map)
    img = SMOKE.brainscuba_images(SUB)
    summary = _tsv(run / img.summary, [
        "region", "category", "n_voxels", "n_captions", "n_images", "n_unguided", "predicted_caption",
        "predicted_unguided", "share_caption", "share_unguided", "true_caption", "true_unguided", "true_unguided_sd",
        "true_effect_sd", "top_caption"], len(REGIONS))
    assert list(summary["region"]) == REGIONS
    n_images = len(REGIONS) * 2  # images.n_captions 1 × seeds_per_caption 2
    table = _tsv(run / img.table, ["region", "caption_rank", "caption", "seed", "file", "predicted", "true", "label",
                                   "status"], n_images)
    assert _pngs(run / img.images) == sorted(table["file"])
    _png(run / img.grid, (4 * (3 * SAMPLE_SIDE + 2), 2 * (3 * SAMPLE_SIDE + 2 + 14)))  # 4 per row, labelled


def _check_behaviour(run: Path) -> None:
    summary = SMOKE.visual_search_summary()
    _tsv(run / summary.asymmetry, [
        "model", "experiment", "hard_task", "easy_task", "slope_hard", "slope_easy", "human_slope_hard",
        "human_slope_easy", "ai", "human_ai", "anova_p", "slope_r", "slope_r_p", "ai_ci_low", "ai_ci_high", "n_trials",
        "paper_ai", "paper_human_ai"],
        12)  # 4 models × (2 experiments + mean)
    _tsv(run / summary.rt, ["model", "experiment", "task", "set_size", "n_trials", "mean_n_fix", "sd_n_fix", "found",
                            "rt_ms", "rt_sem_ms", "human_rt_ms"], 56)  # 4 models × 2 tasks × (3 + 4 set sizes)
    _png(run / summary.curves)
    _png(run / SMOKE.visual_search("eccnet", "curvature").scanpaths)
    _tsv(run / SMOKE.visual_search("ivsn", "orientation_homo").fixations,
         ["experiment", "task", "trial", "set_size", "n_fix", "found", "fixations"], 8)  # 2 tasks × 4 set sizes
    search = SMOKE.triplet_search()
    _tsv(run / search.triplets, ["root", "image1", "image2", "b_high", "b_low", "sign", "d_high", "d_low", "z_high",
                                 "z_low", "target_high", "target_low"], 40)  # triplets.max_triplets
    _tsv(run / search.coverage, ["b_high", "b_low", "n_triplets"], 4 * 4)  # triplets.n_bins squared
    _png(run / search.figure)
    _tsv(run / SMOKE.triplet_choices().choices, ["root", "image1", "image2", "choice", "subject", "p_image2",
                                                 "beta_high_true", "beta_low_true"], 4 * 200)  # observers n × trials
    fit = SMOKE.triplet_fit()
    weights = _tsv(run / fit.weights, ["subject", "n_trials", "intercept", "beta_high", "beta_high_se", "beta_low",
                                       "beta_low_se", "lapse", "lapse_se", "beta_high_true", "beta_low_true"], 1 + 4)
    assert list(weights["subject"]) == ["pooled", "sim01", "sim02", "sim03", "sim04"]
    _tsv(run / fit.predictivity, ["model", "layer", "alias", "accuracy", "repeat_ceiling", "repeat_trials",
                                  "analytic_ceiling"], 7)
    _png(run / fit.surface)
    _png(run / fit.layers)
    ooo = SMOKE.odd_one_out()
    _tsv(run / ooo.embedding, ["object"] + [f"dim{d}" for d in range(1, 17)], 60)  # odd_one_out.n_objects
    _tsv(run / ooo.dimensions, ["dimension", "fitted_column", "total_weight", "max_weight",
                                "n_objects_above_threshold", "top_objects", "planted", "planted_r"], 16)
    _png(run / ooo.figure)


def test_smoke_run_completes_with_every_output(smoke_run: Path):
    """Every output of the smoke run is there and holds what it should: tables with their columns and rows, arrays
    of the expected shapes, images that decode, volumes on the subject's grid."""
    import h5py
    import numpy as np

    run = smoke_run
    with h5py.File(run / SMOKE.preprocess(SUB).betas, "r") as f:
        n_vox = f["betas"].shape[1]
        grid = (tuple(int(n) for n in f["shape"][()]), np.asarray(f["affine"]))
        assert f["betas"].shape == (N_STIMULI, n_vox) and f["stim_id"].shape == (N_STIMULI,)
    assert n_vox > 1000 and len(grid[0]) == 3
    _check_stimuli_truth_and_bids(run, n_vox, grid)
    _check_preprocess_and_rois(run, n_vox, grid)
    _check_models_features_encoder(run, n_vox, grid)
    _check_braindive(run)
    _check_brainscuba(run, n_vox)
    _check_behaviour(run)
    for job in ("oracle", "simulate_sub-01", "simulate_dataset", "report_dashboard", "stimuli_demo_pool",
                "preprocess_sub-01", "rois_sub-01", "demo_clip", "features_democlip", "encoder_sub-01_democlip",
                "demo_diffusion", "braindive_unguided",
                "braindive_sub-01_faces", "braindive_evaluate_sub-01", "demo_cnn", "visual_search_eccnet_curvature",
                "visual_search_summary", "triplet_search", "triplet_choices", "triplet_fit", "odd_one_out",
                "brainscuba_bank", "demo_captioner", "brainscuba_project_sub-01", "brainscuba_captions_sub-01",
                "brainscuba_semantics_sub-01", "brainscuba_images_sub-01", "group_summary"):
        assert (run / SMOKE.log(job)).stat().st_size > 0, job
    for job in ("simulate_sub-01", "simulate_dataset", "report_dashboard", "stimuli_demo_pool", "preprocess_sub-01",
                "rois_sub-01", "features_democlip", "encoder_sub-01_democlip", "braindive_sub-01_places",
                "braindive_evaluate_sub-01"):
        # not oracle: cached rules can't have one
        bench = pd.read_csv(run / SMOKE.benchmark(job), sep="\t")
        assert len(bench) == 1 and "s" in bench.columns and bench["s"].iloc[0] >= 0, job
    assert not list((run / SMOKE.results).rglob("*.partial*")), "temporary files left behind"


def test_caption_images_are_scored_like_braindive(smoke_run: Path):
    """Caption-driven images carry the oracle classifier's label of their saved PNGs, the region's share is the mean
    of those labels, and the unguided share is the one BrainDiVE's evaluation reports for the same samples."""
    import numpy as np
    import pytest
    from PIL import Image

    from cortexplorer.braindive.evaluate import OracleLabels
    from cortexplorer.io.tables import read_tsv

    caption_images = SMOKE.brainscuba_images(SUB)
    images = read_tsv(smoke_run / caption_images.table)
    ok = images[images["status"] == "ok"]
    pixels = np.stack([np.asarray(Image.open(smoke_run / caption_images.images / f).convert("RGB"))
                       for f in ok["file"]])
    assert list(OracleLabels(str(smoke_run / SMOKE.oracle().model))(pixels)) == list(ok["label"])
    summary = read_tsv(smoke_run / caption_images.summary).set_index("region")
    braindive = read_tsv(smoke_run / SMOKE.braindive_evaluation(SUB).summary).set_index("region")
    for region, category in (("faces", "face"), ("places", "place")):
        own = ok.loc[ok["region"] == region, "label"]
        assert summary.loc[region, "share_caption"] == pytest.approx(float((own == category).mean()))
        assert summary.loc[region, "share_unguided"] == pytest.approx(braindive.loc[region, "share_unguided"])
    assert np.isnan(summary.loc["V1", "share_caption"])  # early visual regions have no category


def test_dashboard_is_self_contained(smoke_run: Path):
    page = (smoke_run / "reports" / "smoke" / "index.html").read_text()
    for section in ("Stimuli", "Oracle", "Simulated participants", "Single-trial responses", "Category-selective regions",
                    "Demo CLIP model", "Voxelwise encoders", "BrainDiVE: images that drive a region",
                    "BrainSCUBA: a caption for every voxel", "Visual search: eccNET, IVSN and baselines",
                    "Triplets: low- versus high-level similarity, and odd-one-out embeddings", "What was produced",
                    "Runtime and provenance"):
        assert f">{section}</h2>" in page
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) >= 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    # nothing is fetched: no external scripts, styles, images or fonts (URLs may appear as text)
    assert not re.search(r'(src|href)="(https?:)?//', page) and "@import" not in page and "url(http" not in page


def test_nothing_to_do_after_a_run_and_only_dependents_rerun(smoke_run: Path, tmp_path: Path):
    proc = snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # delete one intermediate: only what depends on it is scheduled again
    localizer = smoke_run / SMOKE.image_set("localizer").images
    kept = tmp_path / "localizer.h5"
    shutil.copy2(localizer, kept)  # with its modification time
    localizer.unlink()
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml"))
    # smoke: 3 regions; the group summary reads the regions, encoders, BrainDiVE and BrainSCUBA tables
    guided = {"braindive": 3, "braindive_evaluate": 1, **BRAINSCUBA, "group_summary": 1}
    assert jobs == {"all": 1, "report_dashboard": 1, "simulate": 1, "stimuli_demo": 1, "preprocess": 1, "rois": 1,
                    "encoder": 1, **guided, **DECODING}
    # the same file put back (same bytes, same time): nothing to do again (rerunning the jobs is the resume tests')
    shutil.copy2(kept, localizer)
    proc = snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a changed setting reruns only the jobs that use it
    changed = tmp_path / "changed.yaml"
    changed.write_text("report:\n  montage_per_category: 3\n")
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1}
    changed.write_text("rois:\n  t_threshold: 3.5\n")
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "rois": 1, "encoder": 1, **guided}
    changed.write_text("encoder:\n  n_folds: 4\n")  # the features and the demo CLIP stay
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "encoder": 1, **guided}
    changed.write_text("braindive:\n  guidance_scale: 10\n")  # the unguided baseline and the models stay
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "braindive": 3, "braindive_evaluate": 1, "group_summary": 1}
    # projection and captions stay; the decoded images share BrainSCUBA's image guidance
    changed.write_text("brainscuba:\n  images: {guidance_scale: 10}\n")
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "brainscuba_images": 1, "decoding_images": 1}
    changed.write_text("triplets:\n  observers: {lapse: 0.1}\n")  # the search and the networks stay
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "triplet_choices": 1, "triplet_fit": 1}
    changed.write_text("braindive:\n  regions: [faces, places, V1, bodies]\n")  # only the new region is sampled
    jobs = dry_run_jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "braindive": 1, "braindive_evaluate": 1, "group_summary": 1}


def test_results_folder_is_relocatable(smoke_run: Path, tmp_path: Path):
    """Copying a finished run elsewhere keeps it complete (no absolute paths inside)."""
    dest = tmp_path / "copy"
    shutil.copytree(smoke_run, dest, symlinks=True)
    proc = snakemake(dest, "-n", "--configfile", "config/smoke.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr
