# Input functions, constants and targets of stage `encoder` (its rules are in ../encoder.smk).
from cortexplorer.encoder.settings import EncoderSettings


def encoder_inputs(wildcards):
    inputs = {
        "betas": check_cached(L.preprocess(wildcards.subject).betas, PREPROCESS_RULE),
        "features": check_cached(L.features(wildcards.backbone).features, "features"),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        "rois": L.rois(wildcards.subject).rois,
    }
    return {**inputs, **demo_truth(wildcards.subject)}


def encoder_targets():
    """Features per encoder backbone and every encoder output per subject and backbone (rule all)."""
    features = [f for b in ENCODER_BACKBONES for f in L.features(b).files()]
    encoders = [
        f for s in SUBJECTS for b in ENCODER_BACKBONES for f in L.encoder(s, b).files()
    ]
    return features + encoders


TARGETS.append(encoder_targets)
