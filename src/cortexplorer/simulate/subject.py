"""Simulate participants and write them as one BIDS dataset with fMRIPrep-style derivatives + truth.

Each participant (``simulate_subject``, one job each) has its own random streams (voxel tuning, noise, design)
and, after the first (the reference, with the configured region centres), its own jittered region centres. Layout written (each participant's three folders are replaced atomically)::

    bids/dataset_description.json, participants.tsv, README                      (write_simulated_dataset)
    bids/derivatives/fmriprep/dataset_description.json                         (write_simulated_dataset)
    bids/sub-XX/ses-YY/func/sub-XX_ses-YY_task-{nsd,floc}_run-NN_{bold.nii.gz,bold.json,events.tsv}
    bids/derivatives/fmriprep/sub-XX/ses-YY/func/
        ..._space-MNI152NLin2009aSym_desc-preproc_bold.{nii.gz,json}
        ..._space-MNI152NLin2009aSym_desc-brain_mask.nii.gz
        ..._desc-confounds_timeseries.{tsv,json}
    truth/sub-XX/responses.h5, model.h5, voxels.tsv, trials.tsv, regions.tsv, regions/{roi}.nii.gz,
    truth/sub-XX/signal_sd.nii.gz, noise_sd.nii.gz, hrf_basis.tsv, README.md, provenance.json
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from cortexplorer.io.atomic import atomic_dir
from cortexplorer.io.bids import TEMPLATE_SPACE, bids_path, write_dataset_description
from cortexplorer.io.hdf5 import write_h5
from cortexplorer.io.images import ImageSet, read_image_set
from cortexplorer.io.tables import write_json, write_tsv
from cortexplorer.oracle import load_oracle
from cortexplorer.provenance import write_sidecar
from cortexplorer.seeding import rng as make_rng
from cortexplorer.simulate.anatomy import EARLY_VISUAL, Anatomy, build_anatomy
from cortexplorer.simulate.bold import event_regressors, hrf_basis, synthesize_run, voxel_hrf_coefficients
from cortexplorer.simulate.design import RunDesign, floc_design, nsd_like_design
from cortexplorer.simulate.networks import Networks, plant_networks, stimulus_meaning
from cortexplorer.simulate.response import TrueResponseModel
from cortexplorer.simulate.settings import SimulatedDatasetSettings, SimulationSettings

log = logging.getLogger(__name__)

VISUAL_CORTEX_MAX_Y_MM = -35.0  # grey matter posterior to this responds (weakly) to images


def plant_voxel_parameters(anat: Anatomy, categories: Sequence[str], signal_sd: Sequence[float],
                           rng: np.random.Generator) -> TrueResponseModel:
    """Per-voxel tuning: category regions prefer their category, V1–V3 follow contrast energy in
    their receptive field, the rest of visual cortex responds weakly and broadly, and the rest
    of the brain does not respond to images at all."""
    n, c = anat.n_voxels, len(categories)
    weights = np.zeros((n, c))
    rf_weight = np.zeros(n)
    rf_x, rf_y, rf_sigma = anat.rf_x.copy(), anat.rf_y.copy(), anat.rf_sigma.copy()
    gain = np.zeros(n)
    lo, hi = signal_sd
    visual = anat.grey_matter & (anat.xyz[:, 1] < VISUAL_CORTEX_MAX_Y_MM)
    # weakly, broadly tuned visual cortex
    weights[visual] = rng.uniform(0, 0.4, (visual.sum(), c))
    rf_weight[visual] = rng.uniform(0, 0.3, visual.sum())
    gain[visual] = rng.uniform(0.15, 0.35, visual.sum()) * lo
    for roi, cat in anat.region_category.items():
        sel = anat.region == roi
        if not sel.any():
            continue
        gain[sel] = rng.uniform(lo, hi, sel.sum())
        if roi in EARLY_VISUAL:
            weights[sel] = rng.uniform(0, 0.1, (sel.sum(), c))
            rf_weight[sel] = 1.0
        else:
            weights[sel] = rng.uniform(0, 0.15, (sel.sum(), c))
            weights[sel, list(categories).index(cat)] = 1.0
            rf_weight[sel] = 0.1
    # voxels with an RF weight but no retinotopic RF (outside V1–V3) pool a large, central field
    broad = (rf_weight > 0) & np.isnan(rf_x)
    rf_x[broad] = rng.uniform(0.35, 0.65, broad.sum())
    rf_y[broad] = rng.uniform(0.35, 0.65, broad.sum())
    rf_sigma[broad] = rng.uniform(0.2, 0.35, broad.sum())
    for a in (rf_x, rf_y, rf_sigma):
        a[np.isnan(a)] = 0.5
    return TrueResponseModel(
        categories=list(categories), category_weights=weights.astype(np.float32), rf_weight=rf_weight.astype(np.float32),
        rf_x=rf_x.astype(np.float32), rf_y=rf_y.astype(np.float32), rf_sigma=rf_sigma.astype(np.float32),
        gain=gain.astype(np.float32), baseline=gain.astype(np.float32),  # images activate: mean response = 1 SD
        drive_mean=np.zeros(n, np.float32), drive_sd=np.ones(n, np.float32),
    )


def _tissue_masks(anat: Anatomy) -> dict[str, np.ndarray]:
    brain = np.ones(anat.n_voxels, bool)
    return {"brain": brain, "white_matter": anat.white_matter,
            "csf": ~anat.grey_matter & ~anat.white_matter}


@dataclass
class World:
    """What the simulated subject sees: the fMRI stimuli, the localizer images, and the oracle."""

    stimuli: ImageSet
    localizer: ImageSet
    oracle: Any


@dataclass
class SimulatedSubject:
    """Everything the simulation draws before the runs: anatomy, tuning, true responses, noise, designs."""

    anat: Anatomy
    model: TrueResponseModel
    stim_ids: np.ndarray
    responses: np.ndarray  # stimuli × V true responses
    floc_ids: np.ndarray
    floc_responses: np.ndarray
    noise_sd: np.ndarray
    phi: np.ndarray  # AR(1) coefficient per voxel
    hrf_coef: np.ndarray
    physio: np.ndarray  # sources × V loadings
    s0: np.ndarray
    session_gain: np.ndarray
    runs: list[RunDesign]
    networks: Networks | None = None  # whole-brain networks (simulate.networks), main experiment only


def load_world(inputs: Mapping[str, str]) -> World:
    """The image sets (``stimuli``/``stimuli_table``, ``localizer``/``localizer_table``) and ``oracle``."""
    stimuli = read_image_set(inputs["stimuli"], inputs["stimuli_table"])
    floc_images = read_image_set(inputs["localizer"], inputs["localizer_table"])
    return World(stimuli, floc_images, load_oracle(inputs["oracle"]))


def check_world(world: World, settings: SimulationSettings) -> None:
    for spec in settings.regions:
        if spec["category"] not in world.oracle.categories:
            raise ValueError(
                f"Region '{spec['name']}' prefers '{spec['category']}', which is not among the categories of the "
                f"world {world.oracle.categories}. Add it to stimuli.categories or remove the region from "
                "simulate.regions.")
    missing = sorted(set(settings.localizer["categories"]) - set(world.localizer.table["category"]))
    if missing:
        raise ValueError(f"simulate.localizer.categories names {missing}, but the localizer images have none of them.")


def _streams(settings: SimulationSettings):
    """The participant's random streams: ``stream("voxels")`` and so on, independent between participants. The
    reference participant (the first of ``simulate.subjects``) draws the run's own streams, as the single simulated
    subject did before there were several, so its files stay byte-identical."""
    if settings.reference:
        return lambda *keys: make_rng(settings.seed, "simulate", *keys)
    return lambda *keys: make_rng(settings.seed, "simulate", f"sub-{settings.subject}", *keys)


def plan_subject(world: World, settings: SimulationSettings) -> SimulatedSubject:
    """Anatomy, voxel tuning, true responses, noise and HRF parameters, and the run designs."""
    oracle, stream = world.oracle, _streams(settings)
    stimuli, floc_images = world.stimuli, world.localizer
    # 1. anatomy and voxel tuning
    anat = build_anatomy(settings.voxel_size_mm, settings.regions, settings.region_radius_mm, settings.early_visual,
                         stream("anatomy"), jitter_mm=settings.anatomy_jitter_mm)
    model = plant_voxel_parameters(anat, oracle.categories, settings.signal_sd_percent, stream("tuning"))
    log.info("grid %s at %d mm: %d brain voxels, %d in regions", anat.shape, settings.voxel_size_mm, anat.n_voxels,
             int((anat.region != "").sum()))

    # 2. true responses of every stimulus (fixes the response scale on the fMRI stimuli)
    model.calibrate(stimuli.images, oracle)
    responses = model.predict(stimuli.images, oracle)
    floc_responses = model.predict(floc_images.images, oracle)

    # 3. noise and HRF parameters
    rng = stream("voxels")
    noise_sd = rng.uniform(*settings.noise_sd_percent, anat.n_voxels)
    phi = rng.uniform(*settings.ar1, anat.n_voxels)
    hrf_coef = voxel_hrf_coefficients(anat.n_voxels, rng, settings.tr, settings.trial_duration)
    # shared "physiological" noise: a few sources, each voxel with fixed loadings (SD physio_sd_percent in total)
    n_sources = settings.physio_sources
    physio = rng.normal(0, settings.physio_sd_percent / np.sqrt(max(n_sources, 1)), (n_sources, anat.n_voxels))
    s0 = 400.0 + 600.0 * anat.template / max(float(anat.template.max()), 1e-6)
    session_gain = 1.0 + stream("sessions").normal(0, settings.session_gain_sd, settings.n_sessions)

    # 4. designs
    design_rng = stream("design")
    runs: list[RunDesign] = nsd_like_design(
        stimuli.table["stim_id"].to_numpy(), n_sessions=settings.n_sessions, runs_per_session=settings.runs_per_session,
        repeats=settings.repeats, trial_duration=settings.trial_duration, trial_interval=settings.trial_interval,
        blank_fraction=settings.blank_fraction, rest_start=settings.rest_start, rest_end=settings.rest_end,
        rng=design_rng)
    runs += floc_design(floc_images.table, rng=design_rng, rest_start=settings.rest_start, rest_end=settings.rest_end,
                        **settings.localizer)
    # 5. networks beyond visual cortex (their own stream: the draws above are the same with or without them)
    networks = None
    if settings.networks:
        meaning = stimulus_meaning(stimuli.table["category"].astype(str).tolist(),
                                   stimuli.table["caption"].fillna("").astype(str).tolist(), oracle.categories)
        networks = plant_networks(anat, settings.networks, settings.region_radius_mm, meaning, stream("networks"),
                                  categories=stimuli.table["category"].astype(str).to_numpy())
        log.info("networks: %s", {r["parcel"]: r["n_voxels"] for r in networks.table if r["network"] != "Visual"})
    return SimulatedSubject(anat, model, stimuli.table["stim_id"], responses, floc_images.table["stim_id"],
                            floc_responses, noise_sd, phi, hrf_coef, physio, s0, session_gain, runs, networks)


def _run_bold(sim: SimulatedSubject, design: RunDesign, settings: SimulationSettings, start_time: float):
    """The BOLD and confounds of one run (its own random stream, so runs are independent of each other)."""
    ev = design.events
    if design.task == "nsd":
        index = {s: i for i, s in enumerate(sim.stim_ids)}
        amp = sim.responses[[index[s] for s in ev["stim_id"]]] * sim.session_gain[design.session - 1]
    else:
        index = {s: i for i, s in enumerate(sim.floc_ids)}
        amp = sim.floc_responses[[index[s] for s in ev["stim_id"]]]
    tr = settings.tr
    extra = []
    if design.task == "nsd" and sim.networks is not None:
        rows = [index[s] for s in ev["stim_id"]]
        for lag, cols in sim.networks.lagged_groups():
            lagged = event_regressors(ev.assign(onset=ev["onset"] + lag), design.n_volumes(tr), tr, start_time)
            extra.append((lagged, sim.networks.responses[np.ix_(rows, cols)] * sim.session_gain[design.session - 1],
                          cols))
    run_rng = _streams(settings)("run", design.task, design.session, design.run)
    return synthesize_run(regressors=event_regressors(ev, design.n_volumes(tr), tr, start_time), amplitudes=amp,
                          extra=extra,
                          hrf_coef=sim.hrf_coef, s0=sim.s0, noise_sd=sim.noise_sd, ar1=sim.phi,
                          drift_sd=settings.drift_sd_percent, motion_coupling=settings.motion_coupling_percent_per_mm,
                          physio_loadings=sim.physio, tissue=_tissue_masks(sim.anat), tr=tr, rng=run_rng)


def _trial_rows(design: RunDesign, ent: dict, gain: float) -> list[dict]:
    return [{**{k: ent[k] for k in ("ses", "run")}, "trial": j + 1, "onset": row.onset, "stim_id": row.stim_id,
             "session_gain": gain} for j, row in design.events.iterrows()]


def write_subject(sim: SimulatedSubject, settings: SimulationSettings, outputs: Mapping[str, str]) -> None:
    """Synthesize each run and write the participant's ``bids`` and ``derivatives`` folders (``sub-XX``), then its
    ``truth``: all three atomically."""
    tr, subject = settings.tr, settings.subject
    with atomic_dir(outputs["bids"]) as raw, atomic_dir(outputs["derivatives"]) as deriv, \
            atomic_dir(outputs["truth"]) as truth:
        trial_rows = []
        start_time = tr / 2
        for design in tqdm(sim.runs, desc=f"simulate sub-{subject} runs", mininterval=5):
            ent = dict(sub=subject, ses=f"{design.session:02d}", task=design.task, run=design.run)
            if design.task == "nsd":
                trial_rows += _trial_rows(design, ent, sim.session_gain[design.session - 1])
            sig = _run_bold(sim, design, settings, start_time)
            _write_run(raw, deriv, sim.anat, ent, design.events, sig.bold, sig.confounds, tr, start_time)
        _write_truth(truth, sim, pd.DataFrame(trial_rows), tr)
        write_sidecar(truth / "provenance.json", stage="simulate", settings=dataclasses.asdict(settings),
                      seed=settings.seed)


def simulate_subject(inputs: Mapping[str, str], outputs: Mapping[str, str], settings: SimulationSettings) -> None:
    """Simulate one participant; ``outputs``: its ``bids``, ``derivatives`` and ``truth`` folders."""
    world = load_world(inputs)
    check_world(world, settings)
    sim = plan_subject(world, settings)
    write_subject(sim, settings, outputs)


def write_simulated_dataset(inputs: Mapping[str, str], outputs: Mapping[str, str],
                            settings: SimulatedDatasetSettings) -> None:
    """The simulated dataset's own files: ``description``, ``participants``, ``readme`` and the fMRIPrep-style
    derivatives' description, ``derivatives``."""
    bids, deriv = Path(outputs["description"]).parent, Path(outputs["derivatives"]).parent
    deriv.mkdir(parents=True, exist_ok=True)
    write_dataset_description(bids, "cortexplorer simulated participants")
    write_dataset_description(deriv, "fMRIPrep-style derivatives (simulated)", derivative_of="../../",
                              generated_by="cortexplorer-simulate")
    write_tsv(pd.DataFrame({"participant_id": [f"sub-{s}" for s in settings.subjects], "species": "simulated"}),
              outputs["participants"])
    Path(outputs["readme"]).write_text(
        "Simulated by cortexplorer's demo world. BOLD is generated directly on the MNI152 2009a template grid,\n"
        "so the raw *_bold.nii.gz files are hard links to the preprocessed ones in derivatives/fmriprep.\n"
        "Each participant's ground truth (true responses, regions, noise levels) is in the sibling truth/sub-XX/.\n"
        f"Every run's sidecar gives its TaskName and RepetitionTime ({settings.tr} s).\n")


def _in_subject(folder: Path, **entities) -> Path:
    """A BIDS file's path inside its participant's folder ``folder`` (``sub-XX/``, written under a temporary name)."""
    return folder / bids_path(".", **entities).relative_to(f"sub-{entities['sub']}")


def _write_run(bids: Path, deriv: Path, anat: Anatomy, ent: dict, events: pd.DataFrame, bold: np.ndarray,
               confounds: pd.DataFrame, tr: float, start_time: float) -> None:
    space = dict(ent, space=TEMPLATE_SPACE)
    preproc = _in_subject(deriv, **space, desc="preproc", suffix="bold", extension=".nii.gz")
    preproc.parent.mkdir(parents=True, exist_ok=True)
    img = anat.volume(bold.T)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr
    img.to_filename(preproc)
    write_json({"RepetitionTime": tr, "SliceTimingCorrected": True, "StartTime": start_time, "SkullStripped": True,
                "TaskName": ent["task"]}, preproc.with_name(preproc.name.replace(".nii.gz", ".json")))
    anat.mask_image().to_filename(_in_subject(deriv, **space, desc="brain", suffix="mask", extension=".nii.gz"))
    conf = _in_subject(deriv, **ent, desc="confounds", suffix="timeseries", extension=".tsv")
    write_tsv(confounds, conf)
    write_json({c: {"Description": "simulated"} for c in confounds.columns}, conf.with_suffix(".json"))
    raw = _in_subject(bids, **ent, suffix="bold", extension=".nii.gz")
    raw.parent.mkdir(parents=True, exist_ok=True)
    os.link(preproc, raw)
    write_json({"RepetitionTime": tr, "TaskName": ent["task"]}, raw.with_name(raw.name.replace(".nii.gz", ".json")))
    write_tsv(events, _in_subject(bids, **ent, suffix="events", extension=".tsv"))


def _write_truth(truth: Path, sim: SimulatedSubject, trials: pd.DataFrame, tr: float) -> None:
    anat, model, responses, noise_sd, phi, hrf_coef = (sim.anat, sim.model, sim.responses, sim.noise_sd, sim.phi,
                                                       sim.hrf_coef)
    stim_ids, floc_ids, floc_responses, session_gain = sim.stim_ids, sim.floc_ids, sim.floc_responses, sim.session_gain
    model.save(truth / "model.h5")
    write_h5(truth / "responses.h5", {
        "stimulus_responses": responses, "stim_id": np.asarray(stim_ids).astype(str),
        "localizer_responses": floc_responses, "localizer_stim_id": np.asarray(floc_ids).astype(str),
        "voxel_ijk": anat.ijk.astype(np.int32), "affine": anat.affine, "session_gain": session_gain,
    }, attrs={"units": "percent signal change at the peak of the voxel's HRF"},
        compress=("stimulus_responses", "localizer_responses"))
    signal_sd = responses.std(0)
    voxels = pd.DataFrame({
        "voxel": np.arange(anat.n_voxels), "i": anat.ijk[:, 0], "j": anat.ijk[:, 1], "k": anat.ijk[:, 2],
        "x_mm": anat.xyz[:, 0], "y_mm": anat.xyz[:, 1], "z_mm": anat.xyz[:, 2],
        "region": np.where(anat.region == "", "n/a", anat.region), "grey_matter": anat.grey_matter,
        "signal_sd": signal_sd, "noise_sd": noise_sd, "ar1": phi,
        "hrf_canonical": hrf_coef[:, 0], "hrf_temporal": hrf_coef[:, 1], "hrf_dispersion": hrf_coef[:, 2],
        "rf_x": model.rf_x, "rf_y": model.rf_y, "rf_sigma": model.rf_sigma, "rf_weight": model.rf_weight,
        **{f"weight_{c}": model.category_weights[:, i] for i, c in enumerate(model.categories)},
    })
    write_tsv(voxels, truth / "voxels.tsv")
    write_tsv(trials, truth / "trials.tsv")
    rows = []
    (truth / "regions").mkdir()
    for label, (roi, cat) in enumerate(anat.region_category.items(), start=1):
        sel = anat.region == roi
        anat.mask_image(sel).to_filename(truth / "regions" / f"{roi}.nii.gz")
        rows.append({"label": label, "roi": roi, "category": cat, "n_voxels": int(sel.sum())})
    write_tsv(pd.DataFrame(rows), truth / "regions.tsv")
    labels = np.zeros(anat.n_voxels, np.int16)
    for row in rows:
        labels[anat.region == row["roi"]] = row["label"]
    anat.volume(labels, dtype=np.int16).to_filename(truth / "regions" / "atlas.nii.gz")
    if sim.networks is not None:
        (truth / "networks").mkdir()
        anat.volume(sim.networks.parcel, dtype=np.int16).to_filename(truth / "networks" / "atlas.nii.gz")
        write_tsv(pd.DataFrame(sim.networks.table).rename(columns={"label": "index"}), truth / "networks.tsv")
    anat.volume(signal_sd).to_filename(truth / "signal_sd.nii.gz")
    anat.volume(noise_sd).to_filename(truth / "noise_sd.nii.gz")
    time, basis = hrf_basis(tr)
    write_tsv(pd.DataFrame({"time": time, "canonical": basis[0], "temporal": basis[1], "dispersion": basis[2]}),
              truth / "hrf_basis.tsv")
    (truth / "README.md").write_text(
        "# Ground truth of the simulated subject\n\n"
        "- `responses.h5`: `stimulus_responses` (stimuli × voxels) = true response to each fMRI stimulus, in\n"
        "  % signal change at the peak of the voxel's HRF for a trial-length boxcar (GLMsingle's beta convention);\n"
        "  a trial in session s has true beta `session_gain[s-1] * stimulus_responses[stim]`.\n"
        "  `localizer_responses` likewise for the localizer images. Voxel v sits at `voxel_ijk[v]`.\n"
        "- `voxels.tsv`: per-voxel region, signal SD (across stimuli), noise SD (time series, % signal change),\n"
        "  AR(1) coefficient, HRF = sum of the coefficients times the columns of `hrf_basis.tsv`, RF and tuning.\n"
        "- `trials.tsv`: every main-experiment trial with its session gain.\n"
        "- `regions/{roi}.nii.gz`, `regions/atlas.nii.gz` (labels in `regions.tsv`): planted regions.\n"
        "- `model.h5`: the true-response model; `cortexplorer.simulate.score_images` scores any image with it.\n"
        "- `networks/atlas.nii.gz` with `networks.tsv` (when simulate.networks is set): a whole-brain parcellation,\n"
        "  each parcel's network, and the planted strength (SD across stimuli, % signal change) and lag (s) at which\n"
        "  it carries the stimulus' meaning in the main experiment (0: a control network; the Visual network's\n"
        "  parcels are the planted regions, whose responses are in `responses.h5`).\n")
