# Input functions, constants and targets of stage `preprocess` (its rules are in ../preprocess.smk).
# (from BOLD in demo and bids modes, from NSD's released betas in nsd mode),
# and the category-selective regions (`rois`) of each subject.
from cortexplorer.nsd.settings import NsdBetasSettings, NsdRoisSettings
from cortexplorer.io.bids import run_files
from cortexplorer.preprocess.settings import PreprocessSettings, session_labels
from cortexplorer.rois.settings import RoisSettings


def bids_inputs(subject, task):
    """The BIDS dataset a stage reads. Demo: the simulated dataset (a rule's output folder). Your data: the
    dataset's description file (the readers take its folder as the root) and every file the reader may
    read for this subject and task (cortexplorer.io.bids.run_files), so that an edited events, confounds,
    sidecar, BOLD or mask file reruns exactly the stages that read it, and files of other subjects do not.
    """
    if MODE == "demo":
        sim = L.simulation()
        subject_files = L.simulated_subject(subject)
        return {
            "bids": sim.description,
            "bids_files": [
                sim.derivatives,
                subject_files.bids,
                subject_files.derivatives,
            ],
        }
    root = CFG["bids"]["root"]
    pre = CFG["preprocess"]
    files = run_files(
        root,
        subject=subject,
        task=task,
        space=pre["space"] or None,
        res=pre["res"] or None,
        sessions=session_labels(CFG) or None,
    )
    return {
        "bids": os.path.join(root, "dataset_description.json"),
        "bids_files": files,
    }


def demo_truth(subject):
    """A simulated participant's truth, for the stages that score themselves against it (demo only)."""
    return {"truth": L.simulated_subject(subject).truth} if MODE == "demo" else {}


def preprocess_inputs(wildcards):
    # cached inputs are checked whole when the DAG is built (cortexplorer.io.check), before
    # Snakemake deletes this job's previous outputs
    return {
        **bids_inputs(wildcards.subject, CFG["preprocess"]["task"]),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        **demo_truth(wildcards.subject),
    }


def rois_inputs(wildcards):
    return {
        **bids_inputs(wildcards.subject, CFG["rois"]["task"]),
        "stimuli": check_cached(L.stimuli().table, STIMULI_RULE),
        "betas": check_cached(L.preprocess(wildcards.subject).betas, PREPROCESS_RULE),
        **demo_truth(wildcards.subject),
    }


def data_targets():
    """The stimuli (and in the demo the pool, localizer images and the simulated subject), the NSD
    files (nsd mode), and every subject's preprocess and rois outputs."""
    if MODE == "demo":
        sets = [L.image_set(name) for name in ("stimuli", "pool", "localizer")]
        targets = [p for s in sets for p in (s.images, s.table)]
        targets += L.simulation().files()
        targets += [p for s in SUBJECTS for p in L.simulated_subject(s).files()]
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
