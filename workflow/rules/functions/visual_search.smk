# Input functions, constants and targets of stage `visual_search` (its rules are in ../visual_search.smk).
from cortexplorer.visual_search.settings import (
    BASELINE_MODELS,
    SearchSettings,
    StimuliSettings,
    SummarySettings,
)

VISUAL_SEARCH = CFG["visual_search"]


def network_inputs(name):
    """The files a ``networks`` entry needs: the demo CNN's weights, when it is the demo's own (triplets too)."""
    if NETWORKS[name]["kind"] == "demo_cnn":
        return {"demo_cnn": L.demo_cnn().model}
    return {}


def search_inputs(wildcards):
    """The displays, and the network's files unless the model is a baseline without one."""
    inputs = {"stimuli": L.visual_search_stimuli(wildcards.experiment).stimuli}
    if wildcards.model not in BASELINE_MODELS:
        inputs.update(network_inputs(VISUAL_SEARCH["network"]))
    return inputs


def visual_search_targets():
    """The summary, and every model's fixations on every experiment (rule all)."""
    return L.visual_search_summary().files() + [
        f
        for m in VISUAL_SEARCH["models"]
        for e in VISUAL_SEARCH["experiments"]
        for f in L.visual_search(m, e).files()
    ]


TARGETS.append(visual_search_targets)
