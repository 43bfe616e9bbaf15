"""The workflow itself: lint, dry runs of every shipped config, a real smoke run, resumability."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .conftest import snakemake


def _jobs(proc) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    dry_run_output = proc.stdout + proc.stderr
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+(\d+)", dry_run_output, re.S)
    if not m:
        return {}
    return {line.split()[0]: int(line.split()[1]) for line in m.group(1).splitlines() if line.strip()}


def test_lint_is_clean(workdir: Path):
    proc = snakemake(workdir, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_snakefmt_is_clean(workdir: Path):
    import subprocess
    import sys

    snakefmt = str(Path(sys.executable).parent / "snakefmt")
    proc = subprocess.run([snakefmt, "--check", "."], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ruff_is_clean():
    import subprocess
    import sys

    from .conftest import REPO

    ruff = str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run([ruff, "check", "src", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# visual search (6 experiments × 2 models) and triplets, in every mode
BEHAVIOUR = {"visual_search_stimuli": 6, "visual_search": 12, "visual_search_summary": 1, "triplet_search": 1,
             "triplet_choices": 1, "triplet_fit": 1}


# BrainSCUBA per subject (demo; elsewhere only with a bank and captioner weights configured)
BRAINSCUBA = {"brainscuba_project": 1, "brainscuba_captions": 1, "brainscuba_semantics": 1, "brainscuba_images": 1}


def test_demo_dry_run(workdir: Path):
    jobs = _jobs(snakemake(workdir, "-n"))
    assert jobs == {"all": 1, "oracle": 1, "report_dashboard": 1, "simulate": 1, "stimuli_demo": 3, "preprocess": 1,
                    "rois": 1, "demo_clip": 1, "features": 1, "encoder": 1, "demo_diffusion": 1,
                    "braindive_unguided": 1, "braindive": 8, "braindive_evaluate": 1, **BEHAVIOUR, "demo_cnn": 1,
                    "odd_one_out": 1, "brainscuba_bank": 1, "demo_captioner": 1, **BRAINSCUBA}


def test_profiles_parse(workdir: Path):
    """The local profile (GPU cap) and the SLURM profile are accepted by Snakemake."""
    assert _jobs(snakemake(workdir, "-n", "--profile", "profiles/local"))["oracle"] == 1
    proc = snakemake(workdir, "-n", "--profile", "profiles/slurm")
    assert _jobs(proc)["simulate"] == 1


def test_nsd_dry_run_lists_fetch_jobs_offline(workdir: Path):
    jobs = _jobs(snakemake(workdir, "-n", "--configfile", "config/nsd.yaml"))
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
    jobs = _jobs(snakemake(workdir, "-n", "--configfile", str(cfg)))
    assert jobs["fetch_nsd"] == 3 + 11 + 2 - 1


def test_bids_dry_run(workdir: Path, tmp_path: Path):
    (tmp_path / "bids" / "stimuli").mkdir(parents=True)
    cfg = tmp_path / "bids.yaml"
    cfg.write_text(f"dataset: {{name: mine, mode: bids}}\nbids:\n  root: {tmp_path}/bids\n"
                   f"  stimuli_dir: {tmp_path}/bids/stimuli\nreport:\n  html: reports/mine/index.html\n")
    jobs = _jobs(snakemake(workdir, "-n", "--configfile", str(cfg)))
    assert jobs == {"all": 1, "report_dashboard": 1, "stimuli_folder": 1, "preprocess": 1, "rois": 1, "features": 2,
                    "encoder": 2, "braindive_unguided": 1, "braindive": 4, "braindive_evaluate": 1, **BEHAVIOUR}
    cfg.write_text(cfg.read_text() + "features:\n  backbones:\n    mine: {kind: demo_clip}\n")
    proc = snakemake(workdir, "-n", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0 and "only exists in demo mode" in proc.stderr + proc.stdout


def test_smoke_run_completes_with_every_output(smoke_run: Path):
    results = smoke_run / "results" / "smoke"
    for rel in ("stimuli/images.h5", "stimuli/stimuli.tsv", "pool/images.h5", "localizer/images.h5",
                "oracle/oracle.pt", "oracle/metrics.tsv", "truth/responses.h5", "truth/regions.tsv",
                "bids/dataset_description.json", "bids/derivatives/fmriprep/dataset_description.json",
                "preprocess/sub-01/betas.h5", "preprocess/sub-01/ncsnr.nii.gz", "preprocess/sub-01/noiseceiling.nii.gz",
                "preprocess/sub-01/steps.tsv", "preprocess/sub-01/qc/recipe.png", "preprocess/sub-01/qc/maps.png",
                "preprocess/sub-01/qc/design.png", "rois/sub-01/rois.tsv", "rois/sub-01/faces.nii.gz",
                "rois/sub-01/stats/faces_tstat.nii.gz", "rois/sub-01/provenance.json", "models/demo_clip/model.pt",
                "models/demo_clip/retrieval.tsv", "models/demo_clip/loss.tsv", "features/democlip.h5",
                "features/democlip.provenance.json", "encoder/sub-01/democlip/encoder.pt", "encoder/sub-01/democlip/metrics.tsv",
                "encoder/sub-01/democlip/regions.tsv", "encoder/sub-01/democlip/r2.nii.gz",
                "encoder/sub-01/democlip/r2_noise_normalised.nii.gz", "encoder/sub-01/democlip/qc.png",
                "models/demo_diffusion/model.pt", "models/demo_diffusion/loss.tsv", "models/demo_diffusion/samples.png",
                "braindive/unguided/seeds.tsv", "braindive/unguided/grid.png", "braindive/sub-01/faces/scores.tsv",
                "braindive/sub-01/faces/grid.png", "braindive/sub-01/V1/scores.tsv",
                "evaluation/sub-01/braindive/summary.tsv", "evaluation/sub-01/braindive/images.tsv",
                "evaluation/sub-01/braindive/activation.png", "evaluation/sub-01/braindive/grids.png",
                "models/demo_cnn/model.pt", "models/demo_cnn/curve.tsv", "visual_search/asymmetry.tsv",
                "visual_search/rt.tsv", "visual_search/curves.png", "visual_search/eccnet/curvature/scanpaths.png",
                "visual_search/ivsn/orientation_homo/fixations.tsv", "triplets/search/triplets.tsv",
                "triplets/search/search.png", "triplets/choices/choices.tsv", "triplets/fit/weights.tsv",
                "triplets/fit/predictivity.tsv", "triplets/fit/surface.png", "triplets/fit/layers.png",
                "triplets/odd_one_out/embedding.tsv", "triplets/odd_one_out/dimensions.png",
                "brainscuba/bank/pool.h5", "models/demo_captioner/model.pt", "models/demo_captioner/curve.tsv",
                "brainscuba/sub-01/projection.h5", "brainscuba/sub-01/captions.tsv",
                "brainscuba/sub-01/semantics/regions.tsv", "brainscuba/sub-01/semantics/nouns.tsv",
                "brainscuba/sub-01/semantics/examples.tsv", "brainscuba/sub-01/semantics/category_map.png",
                "evaluation/sub-01/brainscuba/summary.tsv", "evaluation/sub-01/brainscuba/images.tsv",
                "evaluation/sub-01/brainscuba/grid.png"):
        assert (results / rel).stat().st_size > 0, rel
    for rule in ("oracle", "simulate", "report_dashboard", "stimuli_demo_pool", "preprocess_sub-01", "rois_sub-01",
                 "demo_clip", "features_democlip", "encoder_sub-01_democlip", "demo_diffusion", "braindive_unguided",
                 "braindive_sub-01_faces", "braindive_evaluate_sub-01", "demo_cnn", "visual_search_eccnet_curvature",
                 "visual_search_summary", "triplet_search", "triplet_choices", "triplet_fit", "odd_one_out",
                 "brainscuba_bank", "demo_captioner", "brainscuba_project_sub-01", "brainscuba_captions_sub-01",
                 "brainscuba_semantics_sub-01", "brainscuba_images_sub-01"):
        assert (smoke_run / "logs" / "smoke" / f"{rule}.log").stat().st_size > 0
    for rule in ("simulate", "report_dashboard", "stimuli_demo_pool", "preprocess_sub-01", "rois_sub-01",
                 "features_democlip", "encoder_sub-01_democlip", "braindive_sub-01_places", "braindive_evaluate_sub-01"):
        # not oracle: cached rules can't have one
        assert (smoke_run / "benchmarks" / "runs" / "smoke" / f"{rule}.tsv").exists()
    assert not list(results.rglob("*.partial*")), "temporary files left behind"


def test_caption_images_are_scored_like_braindive(smoke_run: Path):
    """Caption-driven images carry the oracle classifier's label of their saved PNGs, the region's share is the mean
    of those labels, and the unguided share is the one BrainDiVE's evaluation reports for the same samples."""
    import numpy as np
    import pytest
    from PIL import Image

    from cortexplorer.braindive.evaluate import OracleLabels
    from cortexplorer.io.tables import read_tsv

    results = smoke_run / "results" / "smoke"
    images = read_tsv(results / "evaluation" / "sub-01" / "brainscuba" / "images.tsv")
    ok = images[images["status"] == "ok"]
    pixels = np.stack([np.asarray(Image.open(results / "brainscuba" / "sub-01" / "images" / f).convert("RGB"))
                       for f in ok["file"]])
    assert list(OracleLabels(str(results / "oracle" / "oracle.pt"))(pixels)) == list(ok["label"])
    summary = read_tsv(results / "evaluation" / "sub-01" / "brainscuba" / "summary.tsv").set_index("region")
    braindive = read_tsv(results / "evaluation" / "sub-01" / "braindive" / "summary.tsv").set_index("region")
    for region, category in (("faces", "face"), ("places", "place")):
        own = ok.loc[ok["region"] == region, "label"]
        assert summary.loc[region, "share_caption"] == pytest.approx(float((own == category).mean()))
        assert summary.loc[region, "share_unguided"] == pytest.approx(braindive.loc[region, "share_unguided"])
    assert np.isnan(summary.loc["V1", "share_caption"])  # early visual regions have no category


def test_dashboard_is_self_contained(smoke_run: Path):
    page = (smoke_run / "reports" / "smoke" / "index.html").read_text()
    for section in ("Stimuli", "Oracle", "Simulated subject", "Single-trial responses", "Category-selective regions",
                    "Demo CLIP model", "Voxelwise encoders", "BrainDiVE: images that drive a region",
                    "BrainSCUBA: a caption for every voxel", "Visual search: eccNET and IVSN",
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
    (smoke_run / "results" / "smoke" / "localizer" / "images.h5").unlink()
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml"))
    guided = {"braindive": 3, "braindive_evaluate": 1, **BRAINSCUBA}  # smoke: 3 regions
    assert jobs == {"all": 1, "report_dashboard": 1, "simulate": 1, "stimuli_demo": 1, "preprocess": 1, "rois": 1,
                    "encoder": 1, **guided}
    # a changed setting reruns only the jobs that use it
    snakemake(smoke_run, "--cores", "2", "--configfile", "config/smoke.yaml")
    changed = tmp_path / "changed.yaml"
    changed.write_text("report:\n  montage_per_category: 3\n")
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1}
    changed.write_text("rois:\n  t_threshold: 3.5\n")
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "rois": 1, "encoder": 1, **guided}
    changed.write_text("encoder:\n  n_folds: 4\n")  # the features and the demo CLIP stay
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "encoder": 1, **guided}
    changed.write_text("braindive:\n  guidance_scale: 10\n")  # the unguided baseline and the models stay
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "braindive": 3, "braindive_evaluate": 1}
    changed.write_text("brainscuba:\n  images: {guidance_scale: 10}\n")  # projection and captions stay
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "brainscuba_images": 1}
    changed.write_text("triplets:\n  observers: {lapse: 0.1}\n")  # the search and the networks stay
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "triplet_choices": 1, "triplet_fit": 1}
    changed.write_text("braindive:\n  regions: [faces, places, V1, bodies]\n")  # only the new region is sampled
    jobs = _jobs(snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml", str(changed)))
    assert jobs == {"all": 1, "report_dashboard": 1, "braindive": 1, "braindive_evaluate": 1}


def test_results_folder_is_relocatable(smoke_run: Path, tmp_path: Path):
    """Copying a finished run elsewhere keeps it complete (no absolute paths inside)."""
    dest = tmp_path / "copy"
    shutil.copytree(smoke_run, dest, symlinks=True)
    proc = snakemake(dest, "-n", "--configfile", "config/smoke.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr
