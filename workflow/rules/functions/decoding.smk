# Input functions, constants and targets of stage `decoding` (its rules are in ../decoding.smk).
from cortexplorer.decoding.settings import (
    BaselineSettings,
    EvaluateSettings,
    ImagesSettings,
    WaveSettings,
    WindowSettings,
    decoding_backbone,
)

DECODING_CFG = CFG["decoding"]
DECODING = (
    MODE == "demo" if DECODING_CFG["enabled"] is None else DECODING_CFG["enabled"]
)
# the WAVE-style decoder needs parcel time series: the demo's planted atlas, or the user's (bids mode)
DECODING_WAVE = DECODING and (
    MODE == "demo" or (MODE == "bids" and DECODING_CFG["atlas"] is not None)
)
DECODING_BACKBONE = decoding_backbone(CFG)


def decoding_windows_inputs(wildcards):
    inputs = {
        **bids_inputs(wildcards.subject, CFG["preprocess"]["task"]),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        **demo_truth(wildcards.subject),
    }
    if MODE != "demo":
        inputs.update(atlas=DECODING_CFG["atlas"], networks=DECODING_CFG["networks"])
    return inputs


def decoding_baseline_inputs(wildcards):
    return {
        "betas": check_cached(L.preprocess(wildcards.subject).betas, PREPROCESS_RULE),
        "features": check_cached(L.features(DECODING_BACKBONE).features, "features"),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
    }


def decoding_wave_inputs(wildcards):
    inputs = {
        "windows": L.decoding_windows(wildcards.subject).windows,
        "features": check_cached(L.features(DECODING_BACKBONE).features, "features"),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
    }
    if BACKBONES[DECODING_BACKBONE]["kind"] == "demo_clip":
        inputs["demo_clip"] = L.demo_clip().model
    return inputs


def decoding_evaluate_inputs(wildcards):
    inputs = {
        "baseline": L.decoding_baseline(wildcards.subject).predictions,
        "features": check_cached(L.features(DECODING_BACKBONE).features, "features"),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        "images": L.stimuli().images,
        **demo_truth(wildcards.subject),
    }
    if DECODING_WAVE:
        inputs["wave"] = L.decoding_wave(wildcards.subject).predictions
    return inputs


DECODING_IMAGES = DECODING and DECODING_CFG["images_per_stimulus"] > 0


def decoding_images_inputs(wildcards):
    source = L.decoding_wave if DECODING_WAVE else L.decoding_baseline
    inputs = {
        "predictions": source(wildcards.subject).predictions,
        "features": check_cached(L.features(DECODING_BACKBONE).features, "features"),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        "images": L.stimuli().images,
        **diffusion_inputs(wildcards),
    }
    if BACKBONES[DECODING_BACKBONE]["kind"] == "demo_clip":
        inputs["demo_clip"] = L.demo_clip().model
    if MODE == "demo" and BACKBONES[DECODING_BACKBONE]["kind"] == "demo_clip":
        # the nearest pool images: BrainSCUBA's bank holds the pool's embeddings by the same backbone
        inputs.update(
            pool_features=L.brainscuba_bank().features,
            pool_images=L.image_set("pool").images,
            pool_table=L.image_set("pool").table,
        )
    return inputs


def decoding_targets():
    """Every subject's decoding evaluation and what it stands on (rule all); nothing when the stage is off."""
    if not DECODING:
        return []
    files = []
    for s in SUBJECTS:
        files += [*L.decoding_baseline(s).files(), *L.decoding_evaluate(s).files()]
        if DECODING_WAVE:
            files += [*L.decoding_windows(s).files(), *L.decoding_wave(s).files()]
        if DECODING_IMAGES:
            files += L.decoding_images(s).files()
    return files


TARGETS.append(decoding_targets)
