# Input functions, constants and targets of stage `triplets` (its rules are in ../triplets.smk).
# and odd-one-out embeddings (SPoSE).
from cortexplorer.stimuli.settings import FolderStimuliSettings
from cortexplorer.triplets.settings import (
    OddOneOutSettings,
    TripletChoicesSettings,
    TripletFitSettings,
    TripletSearchSettings,
)

TRIPLETS = CFG["triplets"]
ODD_ONE_OUT_CONFIG = TRIPLETS["odd_one_out"]


def triplet_image_files():
    """(images.h5, stimuli.tsv) of the image set the triplets are built from."""
    name = TRIPLETS["images"]
    image_set = L.image_set(name) if name in ("stimuli", "pool") else L.triplet_images()
    return {"images": image_set.images, "table": image_set.table}


def triplet_inputs(wildcards):
    return {**triplet_image_files(), **network_inputs(TRIPLETS["network"])}


def odd_one_out_inputs():
    """A THINGS-format triplet file (and its labels), or (none: simulated) the stimuli drawn as objects."""
    if ODD_ONE_OUT_CONFIG["triplets"]:
        inputs = {"triplets": ODD_ONE_OUT_CONFIG["triplets"]}
    else:
        inputs = {"images": L.stimuli().images, "table": L.stimuli().table}
    if ODD_ONE_OUT_CONFIG["labels"]:
        inputs["labels"] = ODD_ONE_OUT_CONFIG["labels"]
    return inputs


def triplets_targets():
    """Search, choices, the choice models and (when it runs) the odd-one-out embedding (rule all)."""
    outs = (
        L.triplet_search().files()
        + L.triplet_choices().files()
        + L.triplet_fit().files()
    )
    return outs + (L.odd_one_out().files() if ODD_ONE_OUT else [])


TARGETS.append(triplets_targets)
