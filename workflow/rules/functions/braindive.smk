# Input functions, constants and targets of stage `braindive` (its rules are in ../braindive.smk).
from cortexplorer.braindive.settings import (
    BrainDiVESettings,
    EvaluationSettings,
    SamplingSettings,
)


def braindive_targets():
    """Unguided samples, every region's guided images and their evaluation, per subject."""
    regions = CFG["braindive"]["regions"]
    return (
        L.braindive_unguided().files()
        + [f for s in SUBJECTS for r in regions for f in L.braindive(s, r).files()]
        + [f for s in SUBJECTS for f in L.braindive_evaluation(s).files()]
    )


def diffusion_inputs(wildcards):
    if CFG["braindive"]["diffusion"]["kind"] == "demo_diffusion":
        return {"diffusion": L.demo_diffusion().model}
    return {}


def braindive_inputs(wildcards):
    backbone = CFG["braindive"]["backbone"]
    inputs = {
        **diffusion_inputs(wildcards),
        "encoder": L.encoder(wildcards.subject, backbone).model,
        "rois": L.rois(wildcards.subject).rois,
    }
    if BACKBONES[backbone]["kind"] == "demo_clip":
        inputs["demo_clip"] = L.demo_clip().model
    return {**inputs, **demo_truth(wildcards.subject)}


def braindive_evaluate_inputs(wildcards):
    s, regions = wildcards.subject, CFG["braindive"]["regions"]
    inputs = braindive_inputs(wildcards)
    inputs.pop("diffusion", None)
    inputs.update(
        unguided=L.braindive_unguided().table,
        unguided_images=L.braindive_unguided().images,
        scores=[L.braindive(s, r).scores for r in regions],
        region_images=[L.braindive(s, r).images for r in regions],
        features=L.features(CFG["braindive"]["backbone"]).features,
        betas=L.preprocess(s).betas,
        images=L.stimuli().images,
        stimuli=L.stimuli().table,
    )
    if MODE == "demo":  # the judges: the oracle's classifier and, second, the demo CNN
        inputs["oracle"] = L.oracle().model
        inputs["demo_cnn"] = L.demo_cnn().model
    return inputs


BRAINDIVE_CODE = (
    "cortexplorer.braindive",
    "cortexplorer.models.backbone",
    "cortexplorer.models.diffusion",
    "cortexplorer.models.identity",
)


TARGETS.append(braindive_targets)
