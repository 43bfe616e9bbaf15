# Shared helpers: config validation (before any job), result paths, per-rule settings.
import os
import re

from cortexplorer.config import check_config, load_schema
from cortexplorer.nsd import load_manifest
from cortexplorer.provenance import source_digest

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
RESULTS = f"results/{DATASET}"
LOGS = f"logs/{DATASET}"
BENCH = f"benchmarks/runs/{DATASET}"
DATA_ENV = "../../envs/data.yaml"
MODELS_ENV = "../../envs/models.yaml"


def demo_image_set_settings(wildcards):
    """Only the settings that shape this image set, so changing one set reruns only it."""
    st = CFG["stimuli"]
    name = wildcards.imageset
    if name == "localizer":
        cats = CFG["simulate"]["localizer"]["categories"]
        n = st["n_localizer_per_category"] * len(cats)
    else:
        cats = st["categories"]
        n = st["n_images"] if name == "stimuli" else st["n_pool"]
    return {
        "n": n,
        "categories": list(cats),
        "image_size": st["image_size"],
        "test_fraction": st["test_fraction"] if name == "stimuli" else 0.0,
        "seed": SEED,
    }


def final_outputs():
    """Every product of the workflow, so that a deleted intermediate is rebuilt (with what depends
    on it) by plain `snakemake`: Snakemake regenerates a missing file only when something
    requests it, and otherwise treats it like a temp file."""
    html = CFG["report"]["html"]
    if MODE == "demo":
        image_sets = [
            f"{RESULTS}/{name}/{f}"
            for name in ("stimuli", "pool", "localizer")
            for f in ("images.h5", "stimuli.tsv")
        ]
        return [
            html,
            *image_sets,
            f"{RESULTS}/oracle/oracle.pt",
            f"{RESULTS}/oracle/metrics.tsv",
            f"{RESULTS}/bids",
            f"{RESULTS}/truth",
        ]
    if MODE == "nsd":
        return [html, f"{RESULTS}/stimuli/images.h5", *nsd_local_paths()]
    return [html, f"{RESULTS}/stimuli/images.h5"]


# The NSD files this config needs (read once; empty outside NSD mode).
NSD_FILES = (
    load_manifest(CFG["nsd"]["manifest"]).select(
        CFG["nsd"]["subjects"], CFG["nsd"]["sessions"]
    )
    if MODE == "nsd"
    else []
)


def nsd_local_paths(kind=None):
    root = CFG["nsd"]["root"]
    return [
        os.path.join(root, f.path) for f in NSD_FILES if kind is None or f.kind == kind
    ]


def nsd_expected_bytes(wildcards):
    return {f.path: f.bytes for f in NSD_FILES}[wildcards.nsd_path]


def nsd_path_pattern():
    return "|".join(re.escape(f.path) for f in NSD_FILES)


def report_inputs(wildcards):
    inputs = {"stimuli": f"{RESULTS}/stimuli/stimuli.tsv"}
    if MODE == "demo":
        inputs.update(
            pool=f"{RESULTS}/pool/stimuli.tsv",
            localizer=f"{RESULTS}/localizer/stimuli.tsv",
            oracle=f"{RESULTS}/oracle/metrics.tsv",
            truth=f"{RESULTS}/truth",
        )
    return inputs
