# Input functions, constants and targets of stage `brainscuba` (its rules are in ../brainscuba.smk).
from cortexplorer.brainscuba.bank import bank_paths
from cortexplorer.brainscuba.settings import (
    BankSettings,
    CaptionImageSettings,
    CaptionSettings,
    ProjectionSettings,
    SemanticsSettings,
)

BRAINSCUBA_CONFIG = CFG["brainscuba"]


def brainscuba_targets():
    """Per subject: projection, captions, semantics, caption-driven images and their evaluation (the demo: the
    bank too; the demo captioner's files are listed by the models stage)."""
    if not BRAINSCUBA:
        return []
    outs = []
    for s in SUBJECTS:
        outs += L.brainscuba_projection(s).files()
        outs += L.brainscuba_captions(s).files()
        outs += L.brainscuba_semantics(s).files()
        outs += L.brainscuba_images(s).files()
    if MODE == "demo":
        outs += L.brainscuba_bank().files()
    return outs


def brainscuba_bank():
    """The image bank's shards: the demo's pool embeddings, or the configured shards."""
    if MODE == "demo":
        return [L.brainscuba_bank().features]
    return bank_paths(BRAINSCUBA_CONFIG["bank"])


def brainscuba_encoder(wildcards):
    return L.encoder(wildcards.subject, BRAINSCUBA_CONFIG["backbone"]).model


def brainscuba_region_inputs(wildcards):
    inputs = {
        "encoder": brainscuba_encoder(wildcards),
        "rois": L.rois(wildcards.subject).rois,
    }
    if MODE == "demo":
        inputs["truth"] = L.simulation().truth
    return inputs


def brainscuba_caption_inputs(wildcards):
    inputs = {
        **brainscuba_region_inputs(wildcards),
        "projection": L.brainscuba_projection(wildcards.subject).projection,
    }
    if BRAINSCUBA_CONFIG["captioner"]["kind"] == "demo_captioner":
        inputs["captioner"] = L.demo_captioner().model
    return inputs


def brainscuba_image_inputs(wildcards):
    inputs = {
        **brainscuba_region_inputs(wildcards),
        **diffusion_inputs(wildcards),
        "captions": L.brainscuba_captions(wildcards.subject).captions,
        "unguided": L.braindive_unguided().table,
        "unguided_images": L.braindive_unguided().images,
    }
    if BACKBONES[BRAINSCUBA_CONFIG["backbone"]]["kind"] == "demo_clip":
        inputs["demo_clip"] = L.demo_clip().model
    if MODE == "demo":
        inputs["oracle"] = L.oracle().model
    return inputs


TARGETS.append(brainscuba_targets)
