# Input functions, constants and targets of stage `models` (its rules are in ../models.smk).
from cortexplorer.models.settings import (
    DemoCaptionerSettings,
    DemoClipSettings,
    DemoCnnSettings,
    DemoDiffusionSettings,
    PriorJudgeSettings,
)


def models_targets():
    """The oracle and the demo's own models (rule all); nothing outside the demo."""
    if MODE != "demo":
        return []
    outs = [
        L.oracle().model,
        L.oracle().metrics,
        L.demo_clip().model,
        L.demo_clip().retrieval,
        *L.demo_diffusion().files(),
        *L.demo_prior().files(),
        *L.demo_cnn().files(),
    ]
    if BRAINSCUBA:
        outs += L.demo_captioner().files()
    return outs


DEMO_POOL = L.image_set("pool")


TARGETS.append(models_targets)
