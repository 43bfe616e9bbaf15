# Input functions, constants and targets of stage `preprocess` (its rules are in ../preprocess.smk).
# (from BOLD in demo and bids modes, from NSD's released betas in nsd mode),
# and the category-selective regions (`rois`) of each subject.
from cortexplorer.nsd.stage import NsdBetasSettings, NsdRoisSettings
from cortexplorer.preprocess.stage import PreprocessSettings
from cortexplorer.rois.localizer import RoisSettings


def bids_root():
    return L.simulation().bids if MODE == "demo" else CFG["bids"]["root"]


def demo_truth():
    """The simulated subject's truth, for the stages that score themselves against it (demo only)."""
    return {"truth": L.simulation().truth} if MODE == "demo" else {}


def preprocess_inputs(wildcards):
    return {"bids": bids_root(), "stimuli": L.stimuli().table, **demo_truth()}


def rois_inputs(wildcards):
    return {
        "bids": bids_root(),
        "stimuli": L.stimuli().table,
        "betas": L.preprocess(wildcards.subject).betas,
        **demo_truth(),
    }


def data_targets():
    """The stimuli (and in the demo the pool, localizer images and the simulated subject), the NSD
    files (nsd mode), and every subject's preprocess and rois outputs."""
    if MODE == "demo":
        sets = [L.image_set(name) for name in ("stimuli", "pool", "localizer")]
        targets = [p for s in sets for p in (s.images, s.table)]
        targets += L.simulation().files()
    elif MODE == "nsd":
        targets = [L.stimuli().images, *nsd_local_paths()]
    else:
        targets = [L.stimuli().images]
    for s in SUBJECTS:
        pre = L.preprocess(s)
        targets += pre.nsd_files() if MODE == "nsd" else pre.files()
        targets += L.rois(s).files()
    return targets


PREPROCESS_PATHS = L.preprocess("{subject}")


TARGETS.append(data_targets)
