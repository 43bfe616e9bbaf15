# Input functions, constants and targets of stage `brainscuba` (its rules are in ../brainscuba.smk).
from cortexplorer.brainscuba.bank import bank_paths
from cortexplorer.brainscuba.bank_build import input_shards
from cortexplorer.brainscuba.settings import (
    BankBuildSettings,
    BankSettings,
    CaptionImageSettings,
    CaptionSettings,
    ProjectionSettings,
    SemanticsSettings,
)

BRAINSCUBA_CONFIG = CFG["brainscuba"]
# the bank built from the user's images: its input shards (.tar files, or the image tree cut into shards)
BANK_SHARDS = (
    {
        s.name: s
        for s in input_shards(
            BRAINSCUBA_CONFIG["bank_images"], BRAINSCUBA_CONFIG["bank_shard_size"]
        )
    }
    if BRAINSCUBA and MODE != "demo" and BRAINSCUBA_CONFIG["bank_images"]
    else {}
)


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
    if BANK_SHARDS:
        outs += L.brainscuba_bank_build().files()
    return outs


def brainscuba_bank():
    """The image bank's shards: the demo's pool embeddings, those built from brainscuba.bank_images, or the
    configured shards."""
    if MODE == "demo":
        return [L.brainscuba_bank().features]
    if BANK_SHARDS:
        return [L.brainscuba_bank_shard(name) for name in BANK_SHARDS]
    return bank_paths(BRAINSCUBA_CONFIG["bank"])


def bank_source_files(wildcards):
    """Every input shard's files (the index reads them all)."""
    return [f for s in BANK_SHARDS.values() for f in s.files]


def bank_shard_files(wildcards):
    return BANK_SHARDS[wildcards.shard].files


def brainscuba_encoder(wildcards):
    return L.encoder(wildcards.subject, BRAINSCUBA_CONFIG["backbone"]).model


def brainscuba_encoder_metrics(wildcards):
    return L.encoder(wildcards.subject, BRAINSCUBA_CONFIG["backbone"]).metrics


def brainscuba_region_inputs(wildcards):
    inputs = {
        "encoder": brainscuba_encoder(wildcards),
        "rois": L.rois(wildcards.subject).rois,
    }
    return {**inputs, **demo_truth(wildcards.subject)}


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
