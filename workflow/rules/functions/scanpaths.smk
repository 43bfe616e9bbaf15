# Input functions, constants and targets of stage `scanpaths` (its rules are in ../scanpaths.smk).
from cortexplorer.scanpaths.settings import (
    DisplaySettings,
    EvaluateSettings,
    ObserveSettings,
    TrainSettings,
)

SCANPATHS = (
    MODE == "demo"
    if CFG["scanpaths"]["enabled"] is None
    else CFG["scanpaths"]["enabled"]
)


def scanpaths_targets():
    """The evaluation and everything it stands on (rule all); nothing when the stage is off."""
    if not SCANPATHS:
        return []
    return [
        *L.scanpath_displays().files(),
        *L.scanpath_observe().files(),
        *L.scanpath_train().files(),
        *L.scanpath_evaluate().files(),
    ]


TARGETS.append(scanpaths_targets)
