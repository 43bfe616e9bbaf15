"""Stage ``decoding``: load → compute → write for its four rules.

- ``windows_stage``: one subject's main-experiment runs → parcel time series (confounds regressed with
  ``preprocess.confounds``) → one window per trial with a ``tr_shift`` margin each side, and sliding windows of every
  run for self-supervised pretraining.
- ``baseline_stage``: single-trial betas → ridge to the backbone's image embedding → each test stimulus' prediction.
- ``wave_stage``: windows → the WAVE-style decoder (whole brain; the visual network alone; one network masked at a
  time) for ``decoding.seeds`` seeds → each test stimulus' prediction per decoder, condition and seed.
- ``evaluate_stage``: predictions → scores against chance with permutation p, the network ablation beside the planted
  networks (demo), the figures.

Test stimuli are the stimuli table's ``split == "test"``; no trial of a test image is trained on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cortexplorer.decoding.parcels import DecodingInputError, parcel_timeseries, read_atlas, trial_windows
from cortexplorer.decoding.settings import (
    BaselineSettings,
    EvaluateSettings,
    ImagesSettings,
    WaveSettings,
    WindowSettings,
)
from cortexplorer.io.hdf5 import open_h5, read_strings, write_h5
from cortexplorer.io.tables import read_tsv, write_tsv
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng

log = logging.getLogger(__name__)

WHOLE, VISUAL = "whole_brain", "visual_only"


# --- windows ----------------------------------------------------------------------------------------------------

def atlas_files(inputs: Mapping[str, str]) -> tuple[str, str]:
    """The atlas and its network labels: the user's files, or the simulated subject's planted ones (demo)."""
    if inputs.get("atlas"):
        return inputs["atlas"], inputs["networks"]
    truth = Path(inputs["truth"])
    return str(truth / "networks" / "atlas.nii.gz"), str(truth / "networks.tsv")


def _constant_free(nuisance: np.ndarray) -> np.ndarray:
    """The nuisance columns without constant ones (nilearn centres the confounds itself)."""
    return nuisance[:, nuisance.std(0) > 0]


def windows_stage(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: WindowSettings) -> None:
    """``inputs``: ``bids``, ``stimuli`` (stimuli.tsv), and ``atlas`` + ``networks`` or (demo) ``truth``;
    ``outputs``: ``windows`` (HDF5), ``provenance``."""
    from cortexplorer.preprocess import bids_input as bi
    from cortexplorer.preprocess.stage import nuisance_matrix

    atlas_path, networks_path = atlas_files(inputs)
    atlas = read_atlas(atlas_path, networks_path)
    stimuli = read_tsv(inputs["stimuli"], required=["stim_id"])
    runs = bi.find_runs(inputs["bids"], subject=settings.subject, task=settings.task, space=settings.space,
                        res=settings.res, sessions=settings.sessions, index_dir=settings.bids_index)
    s = settings
    span = s.length + 2 * s.tr_shift
    trials, pretrain, tr = [], [], None
    for run in runs:
        img = bi.load_bold(run)
        bi.check_same_grid(atlas.image, Path(atlas.path), "the atlas", img, run.bold, "BOLD",
                           "Resample the atlas to the BOLD's space and grid with nearest-neighbour interpolation, e.g. "
                           "nilearn.image.resample_to_img(atlas, bold, interpolation='nearest'), and point "
                           "decoding.atlas at it.")
        n_vol = img.shape[3]
        events = bi.load_events(run, n_vol, set(stimuli["stim_id"].astype(str)))
        if events.empty:
            continue
        if tr is not None and abs(run.tr - tr) > 1e-3:
            raise DecodingInputError(f"'{run.bold}' has TR {run.tr} s, other runs {tr} s; windows of one decoder "
                                     "need one TR.")
        tr = run.tr
        series = parcel_timeseries(img, atlas, _constant_free(nuisance_matrix(run, n_vol, s.confounds)))
        onsets = events["onset"].to_numpy(float)
        win = trial_windows(series, onsets, tr=run.tr, start_time=run.start_time, offset=s.offset - s.tr_shift,
                            length=span, run=run.bold)
        trials.append((win, events["stim_id"].astype(str).to_numpy(), onsets, run.label))
        pretrain.append(np.stack([series[t:t + span] for t in range(0, n_vol - span + 1, s.pretrain_stride)]))
        log.info("%s: %d parcels × %d volumes, %d trial windows", run.label, series.shape[1], n_vol, len(win))
    if not trials:
        raise DecodingInputError(f"No run of task '{s.task}' for sub-{s.subject} has a trial with an image.")
    write_h5(outputs["windows"], {
        "windows": np.concatenate([t[0] for t in trials]),
        "stim_id": np.concatenate([t[1] for t in trials]),
        "onset": np.concatenate([t[2] for t in trials]),
        "run": np.concatenate([[t[3]] * len(t[0]) for t in trials]).astype(str),
        "pretrain": np.concatenate(pretrain),
        "parcel": atlas.labels.astype(np.int32), "network": atlas.networks.astype(str),
    }, attrs={"tr": float(tr), "offset": s.offset, "length": s.length, "tr_shift": s.tr_shift,
              "units": "% signal change of each parcel's run mean, confounds regressed"},
        compress=("windows", "pretrain"))
    write_sidecar(outputs["provenance"], stage="decoding_windows", settings=asdict(s), seed=None, atlas=atlas_path,
                  networks=networks_path, n_trials=int(sum(len(t[0]) for t in trials)), n_parcels=len(atlas.labels))


def read_windows(path: str) -> dict:
    with open_h5(path, made_by="decoding_windows") as f:
        out = {k: f[k][()] for k in ("windows", "onset", "pretrain", "parcel")}
        out.update({k: read_strings(f[k]) for k in ("stim_id", "run", "network")})
        out.update(dict(f.attrs))
    return out


# --- shared by the decoders -------------------------------------------------------------------------------------

def split_stimuli(stimuli: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(train ids, test ids) from the stimuli table's ``split``."""
    if "split" not in stimuli.columns:
        raise DecodingInputError("The stimuli table has no 'split' column; the decoders need held-out test stimuli "
                                 "(split == 'test').")
    ids = stimuli["stim_id"].astype(str).to_numpy()
    test = stimuli["split"].astype(str).to_numpy() == "test"
    return ids[~test], ids[test]


def embeddings_of(features_path: str, ids: np.ndarray) -> np.ndarray:
    from cortexplorer.features.extract import read_features

    feats = read_features(features_path)
    index = {s: i for i, s in enumerate(feats.stim_id.astype(str))}
    missing = [s for s in ids if s not in index]
    if missing:
        raise DecodingInputError(f"'{features_path}' has no embedding of {len(missing)} stimuli, e.g. {missing[:3]}; "
                                 "rerun the features stage.")
    return feats.features[[index[s] for s in ids]].astype(np.float32)


def write_predictions(path: str, predictions: Mapping[str, np.ndarray], test_ids: np.ndarray, **attrs) -> None:
    """Each decoder/condition/seed's S × E test-stimulus predictions, keyed ``decoder/condition/seed``."""
    write_h5(path, {**{f"pred/{k}": v.astype(np.float32) for k, v in predictions.items()},
                    "stim_id": np.asarray(test_ids).astype(str)}, attrs=attrs)


def read_predictions(path: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    with open_h5(path, made_by="decoding") as f:
        preds: dict[str, np.ndarray] = {}
        f["pred"].visit(lambda name: preds.__setitem__(name, f["pred"][name][()])
                        if hasattr(f["pred"][name], "shape") else None)
        return preds, read_strings(f["stim_id"])


# --- the beta-space baseline ------------------------------------------------------------------------------------

def reliable_voxels(trial_betas: np.ndarray, trial_ids: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` voxels whose training trials repeat best (split-half r across images; 0: every voxel). Chosen on
    training trials only, so that the test images' repeats play no part in the choice."""
    from cortexplorer.preprocess.stage import repeat_reliability

    if n == 0 or n >= trial_betas.shape[1]:
        return np.arange(trial_betas.shape[1])
    reliability = np.nan_to_num(repeat_reliability(trial_betas, trial_ids), nan=-np.inf)
    return np.sort(np.argsort(-reliability, kind="stable")[:n])


def baseline_stage(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: BaselineSettings) -> None:
    """``inputs``: ``betas`` (the preprocess contract), ``features``, ``stimuli``; ``outputs``: ``predictions``,
    ``provenance``."""
    from cortexplorer.decoding.baseline import fit_beta_decoder
    from cortexplorer.decoding.evaluate import stimulus_means
    from cortexplorer.preprocess.contract import read_betas

    betas = read_betas(inputs["betas"])
    train_ids, test_ids = split_stimuli(read_tsv(inputs["stimuli"], required=["stim_id"]))
    trial_ids = np.asarray(betas.trial_stim_id).astype(str)
    train = np.isin(trial_ids, train_ids)
    test = np.isin(trial_ids, test_ids)
    emb = embeddings_of(inputs["features"], trial_ids[train])
    voxels = reliable_voxels(betas.trial_betas[train], trial_ids[train], settings.voxels)
    log.info("beta decoder: %d training trials × %d of %d voxels → %d-d embedding", int(train.sum()), len(voxels),
             betas.trial_betas.shape[1], emb.shape[1])
    fit = fit_beta_decoder(betas.trial_betas[train][:, voxels], emb, trial_ids[train], alphas=settings.alphas,
                           n_folds=settings.n_folds, seed=settings.seed)
    tested = test_ids[np.isin(test_ids, trial_ids[test])]
    pred = stimulus_means(fit.predict(betas.trial_betas[test][:, voxels]), trial_ids[test], tested)
    write_predictions(outputs["predictions"], {"baseline/betas/0": pred}, tested, backbone=settings.backbone)
    write_sidecar(outputs["provenance"], stage="decoding_baseline", settings=asdict(settings), seed=settings.seed,
                  n_train_trials=int(train.sum()), n_test_stimuli=len(tested), n_voxels=len(voxels),
                  alpha_median=float(np.median(fit.alpha)))


# --- the WAVE-style decoder -------------------------------------------------------------------------------------

def _targets(inputs: Mapping[str, str], settings: WaveSettings, train_ids: np.ndarray, stimuli: pd.DataFrame
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """The frozen CLIP image embeddings of the training stimuli, and their captions' text embeddings (None without
    captions or with ``decoding.wave.captions`` off)."""
    image = embeddings_of(inputs["features"], train_ids)
    if not settings.captions or "caption" not in stimuli.columns:
        return image, None
    captions = stimuli.set_index(stimuli["stim_id"].astype(str)).loc[train_ids, "caption"]
    if captions.isna().any():
        log.warning("%d training stimuli have no caption: the decoder is aligned with image embeddings only",
                    int(captions.isna().sum()))
        return image, None
    from cortexplorer.device import resolve as resolve_device
    from cortexplorer.models.backbone import BackboneSpec, create_clip, text_embedder

    spec = BackboneSpec.from_config(settings.backbone, settings.backbone_spec)
    device = resolve_device(settings.device)
    clip_model, _ = create_clip(spec, demo_weights=inputs.get("demo_clip"), device=device)
    return image, text_embedder(spec, clip_model, device)(captions.astype(str).tolist())


def wave_stage(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: WaveSettings) -> None:
    """``inputs``: ``windows``, ``features``, ``stimuli`` (and ``demo_clip`` for the demo's text tower);
    ``outputs``: ``predictions``, ``model``, ``training``, ``provenance``."""
    import torch

    from cortexplorer.decoding import wave
    from cortexplorer.decoding.evaluate import stimulus_means
    from cortexplorer.device import resolve as resolve_device
    from cortexplorer.io.torchfile import save_torch
    from cortexplorer.models.training import state_dict_cpu

    s = settings
    device = resolve_device(s.device)
    w = read_windows(inputs["windows"])
    stimuli = read_tsv(inputs["stimuli"], required=["stim_id"])
    train_ids, test_ids = split_stimuli(stimuli)
    train_ids = train_ids[np.isin(train_ids, w["stim_id"])]
    tested = test_ids[np.isin(test_ids, w["stim_id"])]
    image, text = _targets(inputs, s, train_ids, stimuli)
    row_of = {sid: i for i, sid in enumerate(train_ids)}
    train = np.isin(w["stim_id"], train_ids)
    test = np.isin(w["stim_id"], tested)
    trial_stim = np.array([row_of[x] for x in w["stim_id"][train]])
    networks = np.asarray(w["network"]).astype(str)
    names = list(dict.fromkeys(networks.tolist()))
    if s.visual_network not in names:
        raise DecodingInputError(f"decoding.visual_network is '{s.visual_network}', but the atlas' networks are "
                                 f"{names}. Set it to the network of visual cortex.")
    cfg = wave.WaveConfig(n_parcels=len(networks), window=int(w["length"]), embed_dim=image.shape[1], **s.model)
    conditions = {WHOLE: None, VISUAL: networks == s.visual_network}
    predictions, curves, saved = {}, [], None
    for seed in range(s.seeds):
        for condition, visible in conditions.items():
            torch.manual_seed(s.seed + seed)
            model = wave.WaveDecoder(cfg).to(device)
            model.fit_normalisation(w["windows"][train][:, s.tr_shift:s.tr_shift + cfg.window])
            rng = make_rng(s.seed, "decoding", "wave", condition, seed)
            curve = []
            if s.pretrain_epochs:
                curve += wave.pretrain(model, w["pretrain"][:, s.tr_shift:s.tr_shift + cfg.window],
                                       epochs=s.pretrain_epochs, lr=s.lr, batch_size=s.batch_size,
                                       mask_fraction=s.mask_fraction, rng=rng, device=device, visible=visible)
            curve += wave.finetune(model, w["windows"][train], trial_stim, image, text, epochs=s.epochs, lr=s.lr,
                                   batch_size=s.batch_size, parcel_dropout=s.parcel_dropout, tr_shift=s.tr_shift,
                                   rng=rng, device=device, visible=visible)
            curves += [{"condition": condition, "seed": seed, **c} for c in curve]

            def decode(seen, model=model):
                pred = wave.predict(model, w["windows"][test], tr_shift=s.tr_shift, device=device, visible=seen)
                return stimulus_means(pred, w["stim_id"][test], tested)

            predictions[f"wave/{condition}/{seed}"] = decode(visible)
            if condition == WHOLE:
                for net in names:  # the ablation: one network at its mean at a time
                    predictions[f"wave/without_{net}/{seed}"] = decode(networks != net)
                if saved is None:
                    saved = state_dict_cpu(model)
            log.info("WAVE %s seed %d: final InfoNCE %.3f", condition, seed, curve[-1]["loss"])
    write_predictions(outputs["predictions"], predictions, tested, backbone=s.backbone)
    save_torch({"config": cfg.to_dict(), "state_dict": saved, "networks": networks.tolist(),
                "parcel": np.asarray(w["parcel"]).tolist()}, outputs["model"])
    write_tsv(pd.DataFrame(curves), outputs["training"])
    write_sidecar(outputs["provenance"], stage="decoding_wave", settings=asdict(s), seed=s.seed,
                  n_train_trials=int(train.sum()), n_test_stimuli=len(tested), captions=text is not None)


# --- images generated from the decoded embedding ------------------------------------------------------------------

def grid_picks(n_stimuli: int, n: int) -> np.ndarray:
    """The test stimuli shown in grids: ``n`` spread evenly over the test split."""
    return np.linspace(0, n_stimuli - 1, min(n, n_stimuli)).astype(int)


@dataclass
class NearestPool:
    ids: list[str]  # per test stimulus, the pool image nearest its decoded embedding
    images: np.ndarray


def _nearest_pool(inputs: Mapping[str, str], decoded: np.ndarray) -> NearestPool | None:
    """The pool image (demo: BrainSCUBA's bank of pool embeddings) nearest each decoded embedding; None without a
    pool."""
    if not inputs.get("pool_features"):
        return None
    from cortexplorer.decoding.evaluate import cosine
    from cortexplorer.features.extract import read_features
    from cortexplorer.io.images import read_image_set

    bank = read_features(inputs["pool_features"])
    nearest = bank.stim_id.astype(str)[np.argmax(cosine(decoded, bank.features), axis=1)]
    pool = read_image_set(inputs["pool_images"], inputs["pool_table"])
    row_of = {sid: i for i, sid in enumerate(pool.table["stim_id"].astype(str))}
    return NearestPool(nearest.tolist(), pool.images[[row_of[x] for x in nearest]])


def images_stage(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: ImagesSettings) -> None:
    """Images generated toward the WAVE whole-brain decoder's (else the baseline's) first-seed embedding of a few test
    stimuli, judged by which test image their own embedding retrieves, beside the pool image nearest the decoded
    embedding. ``inputs``: ``predictions``, ``features``, ``stimuli``, ``images`` (and in the demo ``diffusion``,
    ``demo_clip``, and the pool: ``pool_features``, ``pool_images``, ``pool_table``); ``outputs``: ``table``,
    ``grid``, ``provenance``."""
    import torch
    from PIL import Image

    from cortexplorer.braindive.guidance import TextScore
    from cortexplorer.braindive.stage import check_finished, sample_in_batches, write_image
    from cortexplorer.decoding.evaluate import cosine
    from cortexplorer.device import resolve as resolve_device
    from cortexplorer.io.images import read_image_set
    from cortexplorer.models.backbone import BackboneSpec, load_backbone
    from cortexplorer.models.diffusion import load_diffusion
    from cortexplorer.report.figures import image_grid

    s = settings
    device = resolve_device(s.device)
    torch.manual_seed(s.seed)
    preds, tested = read_predictions(inputs["predictions"])
    key = f"wave/{WHOLE}/0" if f"wave/{WHOLE}/0" in preds else next(iter(preds))
    true = embeddings_of(inputs["features"], tested)
    spec = BackboneSpec.from_config(s.backbone, s.backbone_spec)
    net = load_backbone(spec, demo_weights=inputs.get("demo_clip"), device=device)
    if s.diffusion["kind"] != "demo_diffusion":
        raise DecodingInputError("decoding_images guides the demo's pixel diffusion model; with Stable Diffusion "
                                 "(braindive.diffusion) the decoded embedding needs an unCLIP-style prior, which is "
                                 "not built yet. Set decoding.images_per_stimulus to 0.")
    diffusion = load_diffusion(s.diffusion, demo_weights=inputs.get("diffusion"), device=device)
    world = read_image_set(inputs["images"], inputs["stimuli"])
    row_of = {sid: i for i, sid in enumerate(world.table["stim_id"].astype(str))}
    retrieved = np.argmax(cosine(preds[key], true), axis=1)
    pool = _nearest_pool(inputs, preds[key])
    rows, tiles, labels = [], [], []
    for i in grid_picks(len(tested), s.grid_stimuli):
        score_fn = TextScore(net, torch.from_numpy(preds[key][i].astype(np.float32))).to(device).eval()
        result = sample_in_batches(diffusion, score_fn, seeds=s.seeds, batch_size=s.batch_size, steps=s.steps,
                                   scale=s.guidance_scale, label=f"decoded {tested[i]}")
        ok = check_finished(result, str(tested[i]), s.guidance_scale)
        pixels = result.uint8()
        with torch.no_grad():
            emb = net(result.images[torch.as_tensor(ok)].to(device)).float().cpu().numpy()
        sim = cosine(emb, true) if len(emb) else np.zeros((0, len(tested)))
        ranks = (sim > sim[:, [i]]).sum(1)
        for j, seed in enumerate(np.asarray(s.seeds)[ok]):
            rows.append({"stim_id": tested[i], "decoder": key, "seed": int(seed), "cosine_to_decoded":
                         float(cosine(emb[[j]], preds[key][[i]])[0, 0]), "cosine_to_seen": float(sim[j, i]),
                         "rank_of_seen": int(ranks[j]), "n_candidates": len(tested),
                         "nearest_pool": pool.ids[i] if pool else "n/a"})
        size = world.images.shape[1:3][::-1]
        tiles += [world.images[row_of[tested[i]]], world.images[row_of[tested[retrieved[i]]]]]
        if pool:
            tiles.append(np.asarray(Image.fromarray(pool.images[i]).resize(size, Image.BILINEAR)))
        tiles += [np.asarray(Image.fromarray(pixels[j]).resize(size, Image.BILINEAR)) if ok[j]
                  else np.zeros_like(world.images[0]) for j in range(len(pixels))]
        labels += ["seen", "retrieved"] + (["nearest pool"] if pool else []) + [f"generated {k + 1}"
                                                                                  for k in range(len(s.seeds))]
    table = pd.DataFrame(rows)
    write_tsv(table, outputs["table"])
    write_image(image_grid(np.stack(tiles), columns=2 + bool(pool) + len(s.seeds), scale=3, labels=labels),
                outputs["grid"])
    write_sidecar(outputs["provenance"], stage="decoding_images", settings=asdict(s), seed=s.seed, decoder=key,
                  diffusion_identity=diffusion.identity,
                  top1_seen=float((table["rank_of_seen"] == 0).mean()) if len(table) else float("nan"),
                  chance=1 / len(tested))


# --- evaluation -------------------------------------------------------------------------------------------------

def _task(inputs: Mapping[str, str], settings: EvaluateSettings, tested: np.ndarray):
    from cortexplorer.decoding.evaluate import Task

    column = settings.semantic_column
    stimuli = read_tsv(inputs["stimuli"], required=["stim_id"])
    if column not in stimuli.columns or stimuli[column].isna().all():
        raise DecodingInputError(f"The stimuli table '{inputs['stimuli']}' has no '{column}' labels for the semantic "
                                 "task; set decoding.semantic_column to a column that names each image's class.")
    train_ids, _ = split_stimuli(stimuli)
    category = stimuli.set_index(stimuli["stim_id"].astype(str))[column].astype(str)
    categories = tuple(sorted(category.loc[tested].unique()))
    train_emb = embeddings_of(inputs["features"], train_ids)
    train_cat = category.loc[train_ids].to_numpy()
    missing = [c for c in categories if not (train_cat == c).any()]
    if missing:
        raise DecodingInputError(f"The test stimuli's {column} labels {missing} have no training stimulus to define "
                                 "their prototype; move some of their images to the training split.")
    prototypes = np.stack([train_emb[train_cat == c].mean(0) for c in categories])
    index = {c: k for k, c in enumerate(categories)}
    return Task(tested, embeddings_of(inputs["features"], tested),
                np.array([index[c] for c in category.loc[tested]]), categories, prototypes, settings.n_way,
                settings.top)


def evaluate_stage(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: EvaluateSettings) -> None:
    """``inputs``: ``baseline`` and (where there are windows) ``wave`` predictions, ``features``, ``stimuli``, and
    (demo) ``truth``; ``outputs``: ``metrics``, ``ablation``, ``figure``, ``provenance``."""
    from cortexplorer.decoding.evaluate import score

    preds, tested = read_predictions(inputs["baseline"])
    if inputs.get("wave"):
        wave_preds, wave_ids = read_predictions(inputs["wave"])
        if not np.array_equal(wave_ids, tested):
            raise DecodingInputError("The baseline and WAVE decoders were tested on different stimuli; rerun both.")
        preds.update(wave_preds)
    task = _task(inputs, settings, tested)
    rows = []
    for key, pred in preds.items():
        decoder, condition, seed = key.split("/")
        if condition.startswith("without_"):
            continue
        rng = make_rng(settings.seed, "decoding", "permutation", key)
        for metric, v in score(pred, task, n_perm=settings.n_perm, rng=rng).items():
            rows.append({"decoder": decoder, "condition": condition, "seed": int(seed), "metric": metric, **v})
    metrics = pd.DataFrame(rows)
    ablation = _ablation(preds, task, inputs, settings)
    write_tsv(metrics, outputs["metrics"])
    write_tsv(ablation, outputs["ablation"])
    _figure(metrics, ablation, task, preds, inputs, settings, outputs["figure"])
    summary = metrics.groupby(["decoder", "condition", "metric"])["value"].mean().round(4)
    log.info("decoding scores (mean over seeds):\n%s", summary.to_string())
    write_sidecar(outputs["provenance"], stage="decoding_evaluate", settings=asdict(settings), seed=settings.seed,
                  n_test_stimuli=len(tested))


def _ablation(preds: Mapping[str, np.ndarray], task, inputs: Mapping[str, str], settings: EvaluateSettings
              ) -> pd.DataFrame:
    """Per network: what the whole-brain decoder loses when the network is masked (set to its mean), beside the
    planted strength (demo truth). ``margin_drop``: the loss in retrieval margin per test stimulus, averaged over seeds
    then stimuli, with its 95% interval over stimuli and a sign-flip p; ``semantic_drop`` and ``top1_drop``: mean and
    seed-to-seed SD of the drops in those scores."""
    from cortexplorer.decoding.evaluate import cosine, retrieval_margin, score, sign_flip_p

    planted = {}
    if inputs.get("truth"):
        table = read_tsv(Path(inputs["truth"]) / "networks.tsv", required=["network", "strength"])
        planted = table.groupby("network")["strength"].first().to_dict()
    masked_keys = [k for k in preds if k.split("/")[1].startswith("without_")]
    networks = list(dict.fromkeys(k.split("/")[1].removeprefix("without_") for k in masked_keys))
    rows = []
    for net in networks:
        margin, semantic, top1 = [], [], []
        for key in [k for k in masked_keys if k.split("/")[1] == f"without_{net}"]:
            decoder, _, seed = key.split("/")
            full_pred = preds[f"{decoder}/{WHOLE}/{seed}"]
            margin.append(retrieval_margin(cosine(full_pred, task.embeddings))
                          - retrieval_margin(cosine(preds[key], task.embeddings)))
            full, masked = score(full_pred, task, n_perm=0, rng=None), score(preds[key], task, n_perm=0, rng=None)
            semantic.append(full["semantic"]["value"] - masked["semantic"]["value"])
            top1.append(full["image_top1"]["value"] - masked["image_top1"]["value"])
        per_stimulus = np.mean(margin, axis=0)
        half = 1.96 * per_stimulus.std(ddof=1) / np.sqrt(len(per_stimulus))
        rows.append({
            "network": net, "planted_strength": planted.get(net, np.nan), "margin_drop": per_stimulus.mean(),
            "margin_drop_low": per_stimulus.mean() - half, "margin_drop_high": per_stimulus.mean() + half,
            "p": sign_flip_p(per_stimulus, settings.n_perm, make_rng(settings.seed, "decoding", "ablation", net)),
            "semantic_drop": np.mean(semantic), "semantic_drop_sd": np.std(semantic, ddof=1) if len(semantic) > 1
            else np.nan, "top1_drop": np.mean(top1), "seeds": len(margin)})
    table = pd.DataFrame(rows, columns=["network", "planted_strength", "margin_drop", "margin_drop_low",
                                        "margin_drop_high", "p", "semantic_drop", "semantic_drop_sd", "top1_drop",
                                        "seeds"])
    # the planted order where there is one (the visual network first: its regions carry the images), else by drop
    key = table["planted_strength"].fillna(-1) + 1e6 * (table["network"] == settings.visual_network)
    order = np.lexsort((-table["margin_drop"].to_numpy(), -key.to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _figure(metrics: pd.DataFrame, ablation: pd.DataFrame, task, preds, inputs, settings: EvaluateSettings,
            path: str) -> None:
    """Scores against chance (left), the ablation beside the planted strengths (middle), and test stimuli with the
    WAVE decoder's top retrieved test images (right)."""
    import matplotlib.pyplot as plt

    from cortexplorer.decoding.evaluate import cosine
    from cortexplorer.io.figures import write_figure
    from cortexplorer.io.images import read_image_set

    fig = plt.figure(figsize=(15, 4.8))
    grid = fig.add_gridspec(1, 3, width_ratios=[1.2, 1.0, 1.3])
    ax = fig.add_subplot(grid[0])
    summary = metrics.groupby(["decoder", "condition", "metric"]).agg(value=("value", "mean"), sd=("value", "std"),
                                                                       chance=("chance", "first")).reset_index()
    labels = [f"{d}\n{c}" for d, c in summary[["decoder", "condition"]].drop_duplicates().itertuples(index=False)]
    metric_names = list(dict.fromkeys(summary["metric"]))
    width = 0.8 / len(labels)
    for k, (d, c) in enumerate(summary[["decoder", "condition"]].drop_duplicates().itertuples(index=False)):
        part = summary[(summary["decoder"] == d) & (summary["condition"] == c)].set_index("metric").loc[metric_names]
        ax.bar(np.arange(len(metric_names)) + k * width, part["value"], width, yerr=part["sd"].fillna(0),
               label=labels[k].replace("\n", " / "))
    chance = summary.groupby("metric")["chance"].first().loc[metric_names]
    for i, c in enumerate(chance):
        ax.hlines(c, i - 0.1, i + 0.9, colors="k", linestyles=":")
    ax.set_xticks(np.arange(len(metric_names)) + 0.4 - width / 2, metric_names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (dotted: chance)")
    ax.set_title(f"held-out stimuli (n = {len(task.stim_ids)}), mean ± SD over seeds", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[1])
    if len(ablation):
        x = np.arange(len(ablation))
        err = np.vstack([ablation["margin_drop"] - ablation["margin_drop_low"],
                         ablation["margin_drop_high"] - ablation["margin_drop"]])
        ax.bar(x - 0.2, ablation["margin_drop"], 0.4, yerr=err, color="C0", label="drop in retrieval margin (95% CI)")
        for i, p in enumerate(ablation["p"]):
            ax.annotate(f"p={p:.3f}", (x[i] - 0.2, ablation["margin_drop_high"].iloc[i]), ha="center",
                        va="bottom", fontsize=6)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(x, ablation["network"], rotation=30, fontsize=8)
        ax.set_ylabel("retrieval margin lost when masked")
        handles = ax.get_legend_handles_labels()
        if ablation["planted_strength"].notna().any():
            twin = ax.twinx()
            twin.bar(x + 0.2, ablation["planted_strength"].fillna(0), 0.4, color="C1", alpha=0.7,
                     label="planted strength (Visual: the regions)")
            twin.set_ylabel("planted strength (% signal change)")
            more = twin.get_legend_handles_labels()
            handles = (handles[0] + more[0], handles[1] + more[1])
        ax.legend(*handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
        ax.set_title("network ablation (WAVE, whole brain; mean over seeds)", fontsize=9)
    ax = fig.add_subplot(grid[2])
    wave_key = next((k for k in preds if k.startswith(f"wave/{WHOLE}/")), next(iter(preds)))
    images = read_image_set(inputs["images"], inputs["stimuli"])
    row_of = {s: i for i, s in enumerate(images.table["stim_id"].astype(str))}
    sim = cosine(preds[wave_key], task.embeddings)
    pick = grid_picks(len(task.stim_ids), settings.grid_stimuli)
    tiles = []
    for i in pick:
        order = np.argsort(-sim[i])[:3]
        tiles.append(np.concatenate([images.images[row_of[task.stim_ids[i]]]]
                                    + [images.images[row_of[task.stim_ids[j]]] for j in order], axis=1))
    ax.imshow(np.concatenate(tiles, axis=0))
    ax.set_axis_off()
    ax.set_title(f"seen (left) and the top-3 retrieved test images ({wave_key.split('/')[0]}, {wave_key.split('/')[1]})",
                 fontsize=9)
    fig.tight_layout()
    write_figure(fig, path, dpi=100)
