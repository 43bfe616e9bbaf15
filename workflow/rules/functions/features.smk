# Input functions, constants and targets of stage `features` (its rules are in ../features.smk).
from cortexplorer.features.settings import FeaturesSettings


def features_inputs(wildcards):
    inputs = {"images": L.stimuli().images, "table": L.stimuli().table}
    if BACKBONES[wildcards.backbone]["kind"] == "demo_clip":
        inputs["demo_clip"] = L.demo_clip().model
    return inputs
