"""The dashboard ``reports/index.html``: one section per stage whose outputs exist."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import yaml

from cortexplorer.io.hdf5 import open_h5, read_strings
from cortexplorer.io.images import read_image_dir
from cortexplorer.io.nifti import voxel_volume
from cortexplorer.io.tables import read_json, read_tsv
from cortexplorer.layout import Layout
from cortexplorer.provenance import git_revision, package_versions
from cortexplorer.report import figures
from cortexplorer.report.html import Section, write_page
from cortexplorer.report.settings import DashboardSettings


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def produced_files(results: Path) -> pd.DataFrame:
    """What the workflow produced: one row per stage folder, with file counts and sizes."""
    rows = []
    for stage in sorted(p for p in results.iterdir() if p.is_dir()):
        files = [f for f in stage.rglob("*") if f.is_file() and not f.name.startswith(".")]
        size = sum(f.stat().st_size for f in files)
        key = sorted(str(f.relative_to(results)) for f in files if f.parent == stage)[:4]
        created = ""
        for prov in sorted(stage.rglob("provenance.json")):
            if prov.exists():
                created = read_json(prov, made_by="the stage whose folder holds it").get("created", "")
                break
        rows.append({"folder": f"{stage.name}/", "files": len(files), "size": _human(size),
                     "created": created, "examples": ", ".join(key)})
    return pd.DataFrame(rows)


def _stimuli_section(layout: Layout, per_category: int) -> Section | None:
    stim = layout.stimuli()
    if not Path(stim.images).exists():
        return None
    stimuli = read_image_dir(stim.folder)
    sec = Section("stimuli", "Stimuli")
    sec.figure(figures.category_montage(stimuli, per_category),
               f"{per_category} random fMRI stimuli per category ({len(stimuli)} stimuli, "
               f"{stimuli.images.shape[1]}×{stimuli.images.shape[2]} px).")
    counts = []
    for name in ("stimuli", "pool", "localizer"):
        tsv = Path(layout.image_set(name).table)
        if tsv.exists():
            t = read_tsv(tsv)
            for split, n in t["split"].value_counts().sort_index().items():
                counts.append({"set": name, "split": split, "images": int(n),
                               "categories": int(t.loc[t["split"] == split, "category"].nunique())})
    sec.table(pd.DataFrame(counts), "Image sets")
    sec.table(figures.example_captions(stimuli), "Example captions")
    return sec


def _oracle_section(layout: Layout) -> Section | None:
    metrics = Path(layout.oracle().metrics)
    if not metrics.exists():
        return None
    m = read_tsv(metrics)
    acc = float(m.loc[m["category"] == "all", "accuracy"].iloc[0])
    return (Section("oracle", "Oracle")
            .text(f"The oracle classifier (own architecture and seed) labels held-out images of the world with "
                  f"accuracy <b>{acc:.3f}</b>. Its category evidence, plus receptive-field contrast energy, "
                  f"is the true response model of the simulated participants.")
            .table(m, "Held-out accuracy per category"))


def _subject_section(layout: Layout, subjects: Sequence[str]) -> Section | None:
    """The simulated participants (demo): planted regions, their signal and noise, and the design."""
    present = [s for s in subjects if Path(layout.simulated_subject(s).truth_regions).exists()]
    if not present:
        return None
    sec = Section("subject", "Simulated participants")
    stimuli = read_tsv(layout.stimuli().table).set_index("stim_id")
    for subject in present:
        paths = layout.simulated_subject(subject)
        truth = Path(paths.truth)
        regions = read_tsv(paths.truth_regions)
        voxels = read_tsv(truth / "voxels.tsv")
        sec.figure(figures.regions_on_template(Path(paths.truth_atlas), regions),
                   f"sub-{subject}: planted regions on nilearn's MNI152 template (axial slices, z in mm).")
        summary = regions.copy()
        for column, name in (("signal_sd", "median signal SD (%)"), ("noise_sd", "median noise SD (%)")):
            summary[name] = [float(voxels.loc[voxels["region"] == r, column].median()) for r in regions["roi"]]
        sec.table(summary, f"sub-{subject}: regions")
        with open_h5(truth / "responses.h5", made_by="simulate") as f:
            responses = f["stimulus_responses"][:]
            ids = read_strings(f["stim_id"])
        table = figures.region_selectivity(responses, stimuli.loc[ids, "category"].to_numpy(),
                                           voxels["region"].to_numpy(), list(regions["roi"]))
        sec.figure(figures.selectivity_heatmap(table),
                   f"sub-{subject}: mean true response of each region to each stimulus category.")
        trials = read_tsv(truth / "trials.tsv")
        design = trials.groupby(["ses", "run"]).size().reset_index(name="trials")
        n_stim = trials["stim_id"].nunique()
        sec.text(f"sub-{subject}: {len(trials)} main-experiment trials over {trials['ses'].nunique()} sessions and "
                 f"{len(design)} runs; each of {n_stim} stimuli shown {len(trials) // max(n_stim, 1)} times.")
    sec.text("One BIDS dataset with fMRIPrep-style derivatives in <code>bids/</code>; each participant's truth in "
             "<code>truth/sub-XX/</code>. The first participant has the configured region centres; each other one has "
             "its centres jittered (simulate.anatomy_jitter_mm) and its own tuning, noise and design.")
    return sec


def _preprocess_section(layout: Layout, subjects: Sequence[str]) -> Section | None:
    runs = [(s, layout.preprocess(s)) for s in subjects if Path(layout.preprocess(s).betas).exists()]
    if not runs:
        return None
    sec = Section("preprocess", "Single-trial responses")
    for subject, paths in runs:
        with h5py.File(paths.betas, "r") as f:
            n_trials, n_vox = f["trial_betas"].shape
            n_stim = f["betas"].shape[0]
            ncsnr = f["maps/ncsnr"][()]
            nc = f["maps/noiseceiling"][()]
            step = f.attrs.get("step", f.attrs.get("source", ""))
        top = ncsnr > np.nanpercentile(ncsnr, 90) if np.isfinite(ncsnr).any() else np.zeros(len(ncsnr), bool)
        sec.text(f"<b>sub-{subject}</b>: {n_trials} trials of {n_stim} stimuli in {n_vox} voxels (final step "
                 f"<code>{html.escape(str(step))}</code>); betas z-scored within session, repeats averaged. "
                 f"ncsnr median {np.nanmedian(ncsnr):.2f} over all voxels, {np.nanmedian(ncsnr[top]):.2f} in the top "
                 f"10%, whose noise ceiling is {np.nanmedian(nc[top]):.0f}% of variance.")
        if Path(paths.steps).exists():
            sec.table(read_tsv(paths.steps), "Each step of the recipe, in order (medians over the voxel set; "
                      "repeat reliability = r across images between two presentations; truth_r = r of the "
                      "repeat-averaged betas with the true responses, demo only)")
        for name, caption in (("recipe.png", "Recipe diagnostics: HRF library and the HRF each responsive voxel took, "
                               "cross-validated gain per number of noise components, chosen ridge fractions, each step."),
                              ("maps.png", "On-off R² and ncsnr on the template."),
                              ("design.png", "The single-trial design of the first run (canonical HRF), with drift "
                               "and confound columns at the right.")):
            if (Path(paths.qc) / name).exists():
                sec.figure((Path(paths.qc) / name).read_bytes(), caption)
    return sec


def _on_template(mode: str, config: dict | None) -> bool:
    """Whether the data live on the MNI template (demo; bids in an MNI space), not in subject space (NSD)."""
    if mode == "demo":
        return True
    space = str(((config or {}).get("preprocess") or {}).get("space") or "")
    return mode == "bids" and space.startswith("MNI")


def _rois_section(layout: Layout, subjects: Sequence[str], on_template: bool) -> Section | None:
    runs = [(s, layout.rois(s)) for s in subjects if Path(layout.rois(s).table).exists()]
    if not runs:
        return None
    sec = Section("rois", "Category-selective regions")
    for subject, paths in runs:
        simulated = layout.simulated_subject(subject)
        atlas = Path(simulated.truth_atlas)
        d = Path(paths.rois)
        table = read_tsv(paths.table)
        sec.table(table, f"sub-{subject}: regions, voxel counts and how they were cut"
                  + (" (Dice with the planted regions of the same category)" if "dice_vs_truth" in table else ""))
        domains = table[table["roi"].isin(list(figures.DOMAIN_COLOURS))] if "roi" in table else table
        labels = None
        if atlas.exists():
            planted = read_tsv(simulated.truth_regions, required=["label", "category"])
            labels = planted.loc[planted["category"].isin(set(table["category"])), "label"].tolist()
        if len(domains):
            sec.figure(figures.rois_on_template(d, domains, atlas if atlas.exists() else None, labels,
                                                on_template=on_template),
                       ("Recovered regions on nilearn's MNI152 template" if on_template
                        else "Recovered regions in the data's own (subject) space")
                       + (" with the planted regions outlined in black." if atlas.exists() else "."))
    return sec


def _demo_clip_section(layout: Layout) -> Section | None:
    paths = layout.demo_clip()
    if not Path(paths.retrieval).exists():
        return None
    sec = Section("demo_clip", "Demo CLIP model")
    sec.text("A small open_clip model (<code>cortexplorer-demo-clip</code>: 4-layer ViT on 8-px patches, 3-layer text "
             "transformer, 512-d embeddings like ViT-B) trained contrastively on the disjoint image pool's captions, "
             "shortened at random and in part replaced by the category's phrase alone ('some food', 'a person'), as "
             "web alt-text often is. Its image embeddings are the demo's features.")
    sec.table(read_tsv(paths.retrieval), "Retrieval among held-out image–caption pairs of the pool")
    if Path(paths.curve).exists():
        sec.figure(figures.loss_curve(read_tsv(paths.curve)), "Contrastive loss per epoch.")
    return sec


def _group_section(layout: Layout) -> Section | None:
    paths = layout.group()
    if not Path(paths.summary).exists():
        return None
    table, summary = read_tsv(paths.participants), read_tsv(paths.summary)
    n = table["participant"].nunique()
    sec = Section("group", f"Group ({n} participant{'s' if n != 1 else ''})")
    sec.text("Each participant's numbers and their mean, SD, minimum and maximum across participants. Dice to the "
             "others: a participant's region against the voxels in at least half of the other participants' masks "
             "(only when every mask is on one grid).")
    sec.figure(Path(paths.figure).read_bytes(), "One dot per participant (and backbone); the bar is the group mean.")
    sec.table(summary, "Across participants")
    wide = table.assign(participant="sub-" + table["participant"].astype(str).str.zfill(2)).pivot_table(
        index=["stage", "measure", "backbone", "region"], columns="participant", values="value", sort=False)
    sec.table(wide.reset_index(), "Per participant")
    return sec


def _braindive_section(layout: Layout, subjects: Sequence[str], config: Mapping | None) -> Section | None:
    diffusion = layout.demo_diffusion()
    runs = [(s, layout.braindive_evaluation(s)) for s in subjects
            if Path(layout.braindive_evaluation(s).summary).exists()]
    if not runs and not Path(diffusion.curve).exists():
        return None
    bd = (config or {}).get("braindive", {})
    sec = Section("braindive", "BrainDiVE: images that drive a region")
    sec.text("Diffusion sampling guided by the encoder: at every DPM-Solver++ step the predicted clean image "
             "(blended with the current sample) is decoded, embedded by the encoder's backbone and read out; the "
             "gradient of the region's mean predicted response, times the guidance scale, corrects the noise "
             f"prediction. Settings: {bd.get('n_seeds', '?')} seeds per region, {bd.get('steps', '?')} steps, "
             f"guidance scale {bd.get('guidance_scale', '?')}, the top {100 * bd.get('keep_fraction', 0.2):.0f}% kept "
             "by predicted activation. Unguided samples of the same seeds are the baseline; the top natural stimuli "
             "(as many as the kept images) are ranked by the region's measured and by its predicted response.")
    if Path(diffusion.curve).exists():
        sec.figure(figures.loss_curve(read_tsv(diffusion.curve), x="step", y="loss", log_y=True),
                   "Demo diffusion model: training loss (MSE of the noise or v prediction, mean over 50 steps).")
    prior = layout.demo_prior()
    if Path(prior.samples).exists():
        sec.figure(Path(prior.samples).read_bytes(), "Demo diffusion model: unguided samples (the first 64 of those "
                   "judged below).")
    if Path(prior.quality).exists():
        sec.table(read_tsv(prior.quality), "Demo prior against fresh images of the world ('world': drawn like the pool "
                  "it was trained on, never seen by it): the oracle's category "
                  "distribution (total variation from the world's), its mean top-class probability, the demo CNN's "
                  "agreement with the oracle, and the Fréchet distance in the oracle's features (world: between two "
                  "halves of the world images, the floor).")
        sec.table(read_tsv(prior.categories), "Share of each category by the oracle: samples and world images.")
    for subject, paths in runs:
        table = read_tsv(paths.summary)
        truth = " 'true_*': the simulator's true mean response of the region (% signal change); " \
            "true_effect_sd = (true kept − true unguided mean) / unguided SD." if "true_kept" in table else ""
        if "share_kept_cnn" in table:
            truth += " 'share_*_cnn': the same shares by a second, independent judge (the demo CNN)."
        sec.table(table, f"sub-{subject}: predicted activation and share of images classified as the region's "
                  f"category, per image set.{truth}")
        for png, caption in ((paths.figure, "Activation and category share per region and image set."),
                             (paths.grids, "Unguided samples; per region the kept guided images (by rank) and the "
                                           "top natural stimuli by measured response.")):
            if Path(png).exists():
                sec.figure(Path(png).read_bytes(), f"sub-{subject}: {caption}")
    return sec


def _brainscuba_section(layout: Layout, subjects: Sequence[str], config: Mapping | None) -> Section | None:
    runs = [s for s in subjects if Path(layout.brainscuba_semantics(s).regions).exists()]
    if not runs:
        return None
    bs = (config or {}).get("brainscuba", {})
    captioner = _json(Path(layout.demo_captioner().provenance))
    sec = Section("brainscuba", "BrainSCUBA: a caption for every voxel")
    threshold = bs.get("min_score") or {}
    fitted = (f"Only voxels the encoder predicts with {threshold['metric']} ≥ {threshold['value']:g} on held-out "
              "images are captioned (n_voxels of n_voxels_region below)" if threshold.get("value") is not None
              else "Every voxel is captioned")
    sec.text(f"{fitted}. Each captioned voxel's encoder weights are projected onto natural-image "
             "embeddings (a softmax over cosines with "
             f"temperature {bs.get('temperature', '?')}, direction and norm decoupled, streamed over the bank), then "
             f"decoded by a CLIPCap-style captioner (beam search, beam {bs.get('beam_size', '?')}). A caption names a "
             "category when one of its nouns is in the category lexicon; a voxel's category is its caption's first "
             "noun's. Images are then generated from each region's most typical captions.")
    if captioner:
        m = captioner.get("metrics", {})
        sec.text(f"Demo captioner (trained on the disjoint pool's captions): held-out exact-caption match "
                 f"{m.get('heldout_exact_match', float('nan')):.3f}, token accuracy "
                 f"{m.get('heldout_token_accuracy', float('nan')):.3f}.")
    for s in runs:
        semantics, evaluation, subject = layout.brainscuba_semantics(s), layout.brainscuba_images(s), f"sub-{s}"
        sec.table(read_tsv(semantics.regions), f"{subject}: share of each region's voxels whose caption names the region's "
                  "category, the same share among all other voxels and the ratio; first_*: distribution of the "
                  "captions' (first-noun) categories.")
        if Path(semantics.category_map).exists():
            sec.figure(Path(semantics.category_map).read_bytes(), f"{subject}: voxels coloured by caption category.")
        if Path(semantics.examples).exists():
            sec.table(read_tsv(semantics.examples), f"{subject}: example captions per region (the most frequent "
                      "first).")
        if Path(semantics.nouns).exists():
            nouns = read_tsv(semantics.nouns)
            top = nouns[nouns["rank"] <= 5]
            rows = [{"region": r, "top nouns (captions)": ", ".join(f"{n} ({c})" for n, c in
                                                                  zip(g["noun"], g["count"], strict=True))}
                    for r, g in top.groupby("region", sort=False)]
            if rows:
                sec.table(pd.DataFrame(rows), f"{subject}: most frequent nouns per region (all: nouns.tsv).")
        if Path(evaluation.summary).exists():
            sec.table(read_tsv(evaluation.summary), f"{subject}: images from each region's typical captions "
                      "versus unguided samples: predicted (and, in the demo, true) region activation, and the share classified as "
                      "the region's category (share_caption vs share_unguided).")
        if Path(evaluation.grid).exists():
            sec.figure(Path(evaluation.grid).read_bytes(), f"{subject}: caption-driven images per region.")
    return sec


def _json(path: Path) -> dict:
    return read_json(path, made_by="the stage whose folder holds it") if path.exists() else {}


def _network_words(identity: dict) -> str:
    if not identity:
        return "?"
    if identity.get("kind") == "demo_cnn":
        return f"{identity.get('name')} (the demo's VGG16-shaped CNN, trained on the disjoint pool)"
    return f"{identity.get('name')} (torchvision {identity.get('arch')}, weights {identity.get('weights')})"


def _visual_search_section(layout: Layout, models: Sequence[str], experiments: Sequence[str]) -> Section | None:
    summary = layout.visual_search_summary()
    if not Path(summary.asymmetry).exists():
        return None
    runs = [Path(layout.visual_search(m, e).provenance) for m in models for e in experiments]
    example = next((p for p in runs if p.exists()), None)
    identity = _json(example).get("network", {}) if example else {}
    sec = Section("visual_search", "Visual search: eccNET, IVSN and baselines")
    sec.text("eccNET (eccentricity-dependent pooling at pool3-pool5, target features as top-down kernels at three "
             "layers, winner-take-all fixations with inhibition of return) and the single-layer IVSN search the six "
             "asymmetry experiments; fixations become reaction times by the reference's linear mapping, and the "
             "asymmetry index compares the hard and the easy task's RT slopes (polarity from the human data). "
             "The paper's baselines need no network: chance (random fixations among the items) and pixelmatch "
             f"(template matching on blurred pixels). Backbone: {_network_words(identity)}.")
    asym = read_tsv(summary.asymmetry)
    sec.table(asym, "Asymmetry index per experiment and model with its 95% trial-bootstrap CI, beside the paper's "
                    "value for the same model (paper_ai) and the humans' (humans 0.564 on average; the paper's eccNET "
                    "0.513, chance -0.003, pixelMatch -0.178).")
    if Path(summary.curves).exists():
        sec.figure(Path(summary.curves).read_bytes(), "Reaction time against set size, models and humans.")
    examples = [(e, Path(layout.visual_search("eccnet", e).scanpaths)) for e in sorted(experiments)]
    for experiment, png in [(e, p) for e, p in examples if p.exists()][:2]:
        sec.figure(png.read_bytes(), f"eccNET example scanpaths, {experiment}.")
    return sec


def _scanpaths_section(layout: Layout) -> Section | None:
    ev, train = layout.scanpath_evaluate(), layout.scanpath_train()
    if not Path(ev.metrics).exists():
        return None
    prov = _json(Path(train.provenance))
    sec = Section("scanpaths", "Scanpaths over objects: OAT against a planted observer")
    sec.text("OAT (Object-Level Attention Transformer, ECCV 2024) predicts the sequence of shelf objects a searcher "
             "fixates. Here the searcher is planted: its next object follows a known softmax of target identity, "
             "target category, distance and inhibition of return, with planted refixation and miss rates, so every "
             "metric has a ceiling: the policy's own per-step NLL, and its own independent samples scored like a "
             f"model ('ceiling'). OAT: {prov.get('n_parameters', '?')} parameters, best epoch "
             f"{prov.get('best_epoch', '?')} of {prov.get('epochs_run', '?')}. Held-out splits: test (seen layouts "
             "and targets), unseen_layout, unseen_target.")
    table = read_tsv(ev.metrics)
    keep = ["split", "model", "n_trials", "nll_per_step", "sequence_score", "edit_distance", "behaviour_delta",
            "b_correct", "b_length", "found_auc"]
    sec.table(table[[c for c in keep if c in table.columns]],
              "Per split and model: NLL per step (fixations and the end token), sequence score and edit distance "
              "against each observed scanpath (mean over sample x observed pairs), behaviour Δ against the observed "
              "dataset means, share of scanpaths ending on the target, mean length, and the area under the "
              "target-found curve. oat: sampled scanpaths; oat_greedy: the arg-max scanpath.")
    if Path(ev.figure).exists():
        sec.figure(Path(ev.figure).read_bytes(), "Metrics per split, OAT's positional-encoding similarity, "
                   "target-found curves, and observed versus predicted scanpaths on held-out displays.")
    return sec


def _decoding_section(layout: Layout, subjects: Sequence[str]) -> Section | None:
    done = [s for s in subjects if Path(layout.decoding_evaluate(s).metrics).exists()]
    if not done:
        return None
    sec = Section("decoding", "Decoding what was seen: WAVE-style whole-brain decoder and the beta baseline")
    prov = _json(Path(layout.decoding_evaluate(done[0]).provenance)).get("settings", {})
    sec.text("Each decoder maps a trial's brain activity into the CLIP image space; a test stimulus' prediction is the "
             "mean over its trials. baseline: ridge from single-trial betas of the most reliable voxels. wave: a "
             "transformer over the trial's window of parcel time series (whole brain, or the visual network alone), "
             "aligned contrastively with the CLIP image and caption embeddings. Scores on the held-out test "
             "stimuli: image retrieval top-1/top-k among them and brain retrieval top-1 (chance 1/S, k/S), N-way "
             f"semantic accuracy over '{prov.get('semantic_column', '?')}' labels (chance 1/N, N = "
             f"{prov.get('n_way', '?')}), each with a permutation p (predictions shuffled among stimuli).")
    for s in done:
        ev = layout.decoding_evaluate(s)
        metrics = read_tsv(ev.metrics)
        summary = (metrics.groupby(["decoder", "condition", "metric"], sort=False)
                   .agg(mean=("value", "mean"), sd=("value", "std"), chance=("chance", "first"), p_max=("p", "max"),
                        seeds=("seed", "nunique")).reset_index())
        sec.table(summary, f"sub-{s}: scores (mean and SD over seeds; p_max: the largest permutation p of the seeds)")
        ablation = read_tsv(ev.ablation)
        if len(ablation):
            sec.table(ablation, f"sub-{s}: network ablation (the whole-brain WAVE decoder with one network at its "
                                "mean): retrieval margin lost per test stimulus with its 95% interval and sign-flip "
                                "p, beside the planted strength (demo)")
        if Path(ev.figure).exists():
            sec.figure(Path(ev.figure).read_bytes(), f"sub-{s}: scores against chance (dotted), the ablation beside "
                       "the planted networks, and test stimuli (left) with the top-3 test images retrieved from their "
                       "brain activity.")
        images = layout.decoding_images(s)
        if Path(images.grid).exists():
            table = read_tsv(images.table)
            top1 = float((table["rank_of_seen"] == 0).mean()) if len(table) else float("nan")
            sec.figure(Path(images.grid).read_bytes(),
                       f"sub-{s}: seen test stimuli, the test image retrieved from the brain, and images generated "
                       "toward the decoded embedding with the demo's diffusion model (BrainDiVE's loop). The "
                       f"generated images' own embedding picks the seen image first among the test set in {top1:.0%} "
                       f"of them (chance {1 / table['n_candidates'].iloc[0]:.1%}).")
    return sec


def _triplets_section(layout: Layout) -> Section | None:
    search_paths, fit_paths, ooo = layout.triplet_search(), layout.triplet_fit(), layout.odd_one_out()
    search, fit = _json(Path(search_paths.provenance)), _json(Path(fit_paths.provenance))
    if not search and not Path(ooo.provenance).exists():
        return None
    sec = Section("triplets", "Triplets: low- versus high-level similarity, and odd-one-out embeddings")
    if search:
        layers = search.get("settings", {})
        sec.text(f"{search.get('n_triplets')} triplets from {search.get('n_images')} images whose similarity "
                 f"difference in {layers.get('low_layer')} and in {layers.get('high_layer')} of "
                 f"{_network_words(search.get('network', {}))} vary independently: corr(Δlow, Δhigh) = "
                 f"{search.get('corr_low_high', float('nan')):.3f} (random triplets: "
                 f"{search.get('corr_low_high_random', float('nan')):.3f}); "
                 f"{100 * search.get('grid_coverage', 0):.0f}% of the target grid covered.")
        if Path(search_paths.figure).exists():
            sec.figure(Path(search_paths.figure).read_bytes(), "Grid coverage and similarity differences.")
    if fit:
        sec.table(read_tsv(fit_paths.weights), "Choice model per subject and pooled: weights per σ of "
                  "similarity difference (β), lapse rate; *_true: the simulated observers' planted weights.")
        sec.table(read_tsv(fit_paths.predictivity), "Cross-validated choice accuracy of the two-layer "
                  "model and of each layer alone, with the noise ceiling from repeated triplets.")
        for png, caption in ((fit_paths.surface, "Choice probability over the two differences, observed and fitted."),
                             (fit_paths.layers, "Which layer's similarity predicts the choices.")):
            if Path(png).exists():
                sec.figure(Path(png).read_bytes(), caption)
    if Path(ooo.dimensions).exists():
        prov = _json(Path(ooo.provenance))
        sec.text(f"SPoSE odd-one-out embedding: {prov.get('n_dims_kept', '?')} dimensions kept; held-out accuracy "
                 f"{prov.get('heldout_accuracy', float('nan')):.3f} against a noise ceiling of "
                 f"{prov.get('ceiling', float('nan')):.3f} (chance 0.333).")
        sec.table(read_tsv(ooo.dimensions), "Kept dimensions: top objects (and, when planted, the matching "
                  "planted dimension with its correlation).")
        if Path(ooo.figure).exists():
            sec.figure(Path(ooo.figure).read_bytes(), "The objects loading most on each kept dimension.")
    return sec


def _encoder_section(layout: Layout, subjects: Sequence[str], backbones: Sequence[str],
                     on_template: bool) -> Section | None:
    runs = [(s, b, layout.encoder(s, b)) for s in subjects for b in backbones
            if Path(layout.encoder(s, b).regions).exists()]
    if not runs:
        return None
    sec = Section("encoder", "Voxelwise encoders")
    sec.text("Per-voxel ridge regression from unit-normalised image embeddings to the repeat-averaged betas, one "
             "regularisation per voxel chosen by cross-validation with folds grouped by stimulus; scored on the "
             "held-out test images. Noise-normalised R² = r² / noise ceiling (the ceiling for the test images' "
             "repeat counts; r < 0 counts as 0, capped at 1).")
    for subject, backbone, paths in runs:
        name = f"sub-{subject} · {backbone}"
        table = read_tsv(paths.regions)
        sec.table(table, f"{name}: medians per region on the test images"
                  + (" (r_truth: correlation of the predictions with the noise-free true responses)"
                     if "median_r_truth" in table else ""))
        grid = nib.load(paths.r2nn)
        metrics = read_tsv(paths.metrics, required=["i", "j", "k", "r2_noise_normalised", "noise_ceiling"])
        # r²/NC is only meaningful where the ceiling (of the test images) is not tiny
        values = np.where(metrics["noise_ceiling"] >= 10, metrics["r2_noise_normalised"], 0.0)
        shown = voxel_volume(values, metrics[["i", "j", "k"]].to_numpy(), grid.affine, grid.shape)
        sec.figure(figures.map_on_template(shown, "noise-normalised R²", on_template=on_template, threshold=0.05),
                   "Noise-normalised test R² in voxels whose noise ceiling is at least 10%, "
                   + ("on nilearn's MNI152 template." if on_template else "in the data's own (subject) space."))
        if on_template:
            sec.figure(figures.map_on_fsaverage5(shown, "noise-normalised R²"),
                       "The same map sampled onto nilearn's fsaverage5 surface (inflated; lateral and ventral views).")
        if Path(paths.qc).exists():
            sec.figure(Path(paths.qc).read_bytes(), "Chosen regularisation per voxel, test r² against the noise "
                       "ceiling, and the per-region medians.")
    return sec


def _nsd_section(nsd_files: list[str]) -> Section | None:
    if not nsd_files:
        return None
    rows = [{"file": f, "size": _human(os.path.getsize(f)) if os.path.exists(f) else "missing"} for f in nsd_files]
    return Section("nsd", "NSD files").table(pd.DataFrame(rows))


_DONE = re.compile(r"rule (\S+): done in ([0-9.]+) s, peak memory ([0-9.]+) MB")


def rule_resources(bench_dir: Path, log_dir: Path) -> pd.DataFrame:
    """Wall time and peak memory of every job: Snakemake's benchmark TSVs, else the job's log."""
    rows = {}
    if bench_dir.is_dir():
        for tsv in sorted(bench_dir.glob("*.tsv")):
            b = pd.read_csv(tsv, sep="\t").iloc[-1]
            rows[tsv.stem] = {"job": tsv.stem, "seconds": float(b["s"]), "peak memory (MB)": float(b["max_rss"]),
                              "CPU seconds": float(b["cpu_time"]), "source": "benchmark"}
    if log_dir.is_dir():
        for log_file in sorted(log_dir.rglob("*.log")):
            name = str(log_file.relative_to(log_dir).with_suffix("")).replace("/", "_")
            match = _DONE.search(log_file.read_text(errors="replace"))
            if match and name not in rows:
                rows[name] = {"job": name, "seconds": float(match.group(2)), "peak memory (MB)": float(match.group(3)),
                              "CPU seconds": float("nan"), "source": "log"}
    return pd.DataFrame(list(rows.values()))


def _provenance_section(bench_dir: Path, log_dir: Path, config: dict | None) -> Section:
    sec = Section("provenance", "Runtime and provenance")
    usage = rule_resources(bench_dir, log_dir)
    if len(usage):
        sec.table(usage.sort_values("seconds", ascending=False), "Wall time and peak memory per job")
        sec.figure(_usage_figure(usage), "Wall time per job (bars) and peak resident memory (labels).")
    versions = package_versions()
    sec.text(f"Code version <code>{html.escape(git_revision())}</code>.")
    sec.table(pd.DataFrame({"package": list(versions), "version": list(versions.values())}), "Package versions")
    if config is not None:
        sec.raw("<h3>Configuration (after defaults)</h3><details><summary>show the exact config</summary><pre>"
                + html.escape(yaml.safe_dump(config, sort_keys=False)) + "</pre></details>")
    return sec


def _usage_figure(usage: pd.DataFrame):
    import matplotlib.pyplot as plt

    u = usage.sort_values("seconds")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(u) + 1.0))
    ax.barh(u["job"], u["seconds"], color="#27468f")
    for y, (sec, mem) in enumerate(zip(u["seconds"], u["peak memory (MB)"], strict=True)):
        ax.text(sec, y, f"  {mem:.0f} MB", va="center", fontsize=8)
    ax.set_xlabel("wall time (s)")
    ax.set_xlim(0, u["seconds"].max() * 1.3 + 1e-9)
    fig.tight_layout()
    return fig


def build_dashboard(inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings: DashboardSettings) -> None:
    """Write the self-contained dashboard (``outputs["html"]``) of one dataset's results."""
    layout, st = Layout(settings.dataset), settings
    config = dict(st.config)
    on_template = _on_template(st.mode, config)
    sections = [s for s in (
        _stimuli_section(layout, st.montage_per_category),
        _oracle_section(layout),
        _subject_section(layout, st.subjects),
        _preprocess_section(layout, st.subjects),
        _rois_section(layout, st.subjects, on_template=on_template),
        _demo_clip_section(layout),
        _encoder_section(layout, st.subjects, st.encoder_backbones, on_template=on_template),
        _braindive_section(layout, st.subjects, config),
        _brainscuba_section(layout, st.subjects, config),
        _visual_search_section(layout, st.search_models, st.search_experiments),
        _scanpaths_section(layout),
        _decoding_section(layout, st.subjects),
        _triplets_section(layout),
        _nsd_section(list(st.nsd_files)),
        _group_section(layout),
    ) if s is not None]
    results = Path(layout.results)
    sections.append(Section("outputs", "What was produced").table(produced_files(results)))
    sections.append(_provenance_section(Path(layout.benchmarks), Path(layout.logs), config))
    n_images = 0
    if Path(layout.stimuli().images).exists():
        with h5py.File(layout.stimuli().images, "r") as f:
            n_images = int(np.shape(f["images"])[0])
    subtitle = (f"dataset '{st.dataset}' ({st.mode} mode) · {n_images} stimuli · code {git_revision()[:12]} · "
                f"results in {results}")
    write_page(outputs["html"], "cortexplorer", subtitle, sections)
