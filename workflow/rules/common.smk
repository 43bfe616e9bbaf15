# Config validation (before any job), the mode's constants, and where every file lives (L).
import os
import sys

from cortexplorer.config import brainscuba_enabled, check_config, load_schema
from cortexplorer.io.bids import participants as bids_participants
from cortexplorer.io.check import check_cached, folder_files
from cortexplorer.layout import Layout
from cortexplorer.provenance import source_digest
from cortexplorer.settings import as_params

CFG = check_config(
    config,
    load_schema(
        os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
    ),
    base_dir=os.getcwd(),
)
DATASET = CFG["dataset"]["name"]
MODE = CFG["dataset"]["mode"]
SEED = CFG["seed"]
# every results, log and benchmark path comes from here (cortexplorer.layout)
L = Layout(DATASET)
if MODE == "nsd":
    SUBJECTS = [f"{s:02d}" for s in CFG["nsd"]["subjects"]]
elif MODE == "bids":
    # every participant of the dataset, or those named (cortexplorer.io.bids.participants)
    SUBJECTS = bids_participants(
        CFG["bids"]["root"],
        # the main experiment (a missing localizer stops the rois job, naming the task and the files)
        tasks=[CFG["preprocess"]["task"]],
        labels=CFG["bids"]["participant_label"],
        sessions=CFG["bids"]["sessions"],
        space=CFG["preprocess"]["space"] or None,
        res=CFG["preprocess"]["res"] or None,
        skip_unusable=CFG["bids"]["skip_unusable"],
        warn=lambda text: print(f"WARNING: {text}", file=sys.stderr),
    )
else:
    SUBJECTS = list(CFG["simulate"]["subjects"])
# check_config filled in the mode's default backbones
BACKBONES = CFG["features"]["backbones"]
ENCODER_BACKBONES = CFG["encoder"]["backbones"] or list(BACKBONES)
NETWORKS = CFG["networks"]
BRAINSCUBA = brainscuba_enabled(CFG)
# odd-one-out embeddings: simulated in the demo, elsewhere only from a THINGS-format file
ODD_ONE_OUT = MODE == "demo" or CFG["triplets"]["odd_one_out"]["triplets"] is not None
# the rules that write the stimulus table and the betas (named when a cached copy is found damaged)
STIMULI_RULE = {"demo": "stimuli_demo", "bids": "stimuli_folder", "nsd": "stimuli_nsd"}[
    MODE
]
PREPROCESS_RULE = "preprocess_nsd" if MODE == "nsd" else "preprocess"
DATA_ENV = "../../envs/data.yaml"
MODELS_ENV = "../../envs/models.yaml"

# Each stage's .smk appends a function returning its final outputs; `rule all` requests them all,
# so that a deleted intermediate is rebuilt (with what depends on it) by plain `snakemake`:
# Snakemake regenerates a missing file only when something requests it.
TARGETS = []


def stage_outputs():
    return [f for targets in TARGETS for f in targets()]


def final_outputs():
    return [CFG["report"]["html"], *stage_outputs()]
