# Input functions, constants and targets of stage `encoder` (its rules are in ../encoder.smk).
from cortexplorer.encoder.stage import EncoderSettings


def encoder_inputs(wildcards):
    inputs = {
        "betas": L.preprocess(wildcards.subject).betas,
        "features": L.features(wildcards.backbone).features,
        "stimuli": L.stimuli().table,
        "rois": L.rois(wildcards.subject).rois,
    }
    if MODE == "demo":
        inputs["truth"] = L.simulation().truth
    return inputs


def encoder_targets():
    """Features per encoder backbone and every encoder output per subject and backbone (rule all)."""
    features = [f for b in ENCODER_BACKBONES for f in L.features(b).files()]
    encoders = [
        f for s in SUBJECTS for b in ENCODER_BACKBONES for f in L.encoder(s, b).files()
    ]
    return features + encoders


TARGETS.append(encoder_targets)
