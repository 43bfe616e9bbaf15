# Input functions, constants and targets of stage `scanpaths` (its rules are in ../scanpaths.smk).
from cortexplorer.scanpaths.settings import (
    DisplaySettings,
    EvaluateSettings,
    ObserveSettings,
    PixelSearchSettings,
    TrainSettings,
)

SCANPATHS_CFG = CFG["scanpaths"]

SCANPATHS = (
    MODE == "demo" if SCANPATHS_CFG["enabled"] is None else SCANPATHS_CFG["enabled"]
)
DISPLAYS = L.scanpath_displays()


def pixel_search_inputs(wildcards):
    """The shelves, and the backbone's files (the demo CNN's weights in the demo)."""
    return {
        "layouts": DISPLAYS.layouts,
        "trials": DISPLAYS.trials,
        "displays": DISPLAYS.displays,
        **network_inputs(VISUAL_SEARCH["network"]),
    }


def scanpaths_targets():
    """The evaluation and everything it stands on (rule all); nothing when the stage is off."""
    if not SCANPATHS:
        return []
    return [
        *L.scanpath_displays().files(),
        *L.scanpath_observe().files(),
        *L.scanpath_train().files(),
        *L.scanpath_evaluate().files(),
        *[
            f
            for m in SCANPATHS_CFG["pixel_models"]
            for f in L.scanpath_pixel(m).files()
        ],
    ]


TARGETS.append(scanpaths_targets)
