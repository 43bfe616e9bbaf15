# Shared helpers: config validation (before any job), result paths, per-rule settings.
import os
import re

from cortexplorer.brainscuba.bank import bank_paths
from cortexplorer.config import brainscuba_enabled, check_config, load_schema
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
if MODE == "nsd":
    SUBJECTS = [f"{s:02d}" for s in CFG["nsd"]["subjects"]]
elif MODE == "bids":
    SUBJECTS = [CFG["bids"]["subject"]]
else:
    SUBJECTS = [CFG["simulate"]["subject"]]
# check_config filled in the mode's default backbones
BACKBONES = CFG["features"]["backbones"]
ENCODER_BACKBONES = CFG["encoder"]["backbones"] or list(BACKBONES)
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
            f"{RESULTS}/models/demo_clip/model.pt",
            f"{RESULTS}/models/demo_clip/retrieval.tsv",
            *[f"{RESULTS}/models/demo_diffusion/{f}" for f in DEMO_DIFFUSION_FILES],
            f"{RESULTS}/bids",
            f"{RESULTS}/truth",
            *subject_outputs(),
            *braindive_outputs(),
            *brainscuba_outputs(),
            *behaviour_outputs(),
        ]
    if MODE == "nsd":
        return [
            html,
            f"{RESULTS}/stimuli/images.h5",
            *nsd_local_paths(),
            *subject_outputs(),
            *braindive_outputs(),
            *brainscuba_outputs(),
            *behaviour_outputs(),
        ]
    return [
        html,
        f"{RESULTS}/stimuli/images.h5",
        *subject_outputs(),
        *braindive_outputs(),
        *brainscuba_outputs(),
        *behaviour_outputs(),
    ]


DEMO_DIFFUSION_FILES = ("model.pt", "loss.tsv", "samples.png", "provenance.json")
BRAINDIVE_FILES = ("images", "scores.tsv", "grid.png", "provenance.json")
BRAINDIVE_EVALUATION_FILES = (
    "summary.tsv",
    "images.tsv",
    "activation.png",
    "grids.png",
    "provenance.json",
)


def braindive_outputs():
    """Unguided samples, every region's guided images and their evaluation, per subject."""
    regions = CFG["braindive"]["regions"]
    return (
        [
            f"{RESULTS}/braindive/unguided/{f}"
            for f in ("images", "seeds.tsv", "grid.png", "provenance.json")
        ]
        + [
            f"{RESULTS}/braindive/sub-{s}/{r}/{f}"
            for s in SUBJECTS
            for r in regions
            for f in BRAINDIVE_FILES
        ]
        + [
            f"{RESULTS}/evaluation/sub-{s}/braindive/{f}"
            for s in SUBJECTS
            for f in BRAINDIVE_EVALUATION_FILES
        ]
    )


def braindive_sampling():
    """The settings that shape the samples of every seed (guided or not)."""
    bd = CFG["braindive"]
    return {
        "diffusion_spec": bd["diffusion"],
        **{k: bd[k] for k in ("n_seeds", "first_seed", "steps", "batch_size")},
    }


def diffusion_inputs(wildcards):
    if CFG["braindive"]["diffusion"]["kind"] == "demo_diffusion":
        return {"diffusion": f"{RESULTS}/models/demo_diffusion/model.pt"}
    return {}


def braindive_inputs(wildcards):
    backbone = CFG["braindive"]["backbone"]
    inputs = {
        **diffusion_inputs(wildcards),
        "encoder": f"{RESULTS}/encoder/sub-{wildcards.subject}/{backbone}/encoder.pt",
        "rois": f"{RESULTS}/rois/sub-{wildcards.subject}",
    }
    if BACKBONES[backbone]["kind"] == "demo_clip":
        inputs["demo_clip"] = f"{RESULTS}/models/demo_clip/model.pt"
    if MODE == "demo":
        inputs["truth"] = f"{RESULTS}/truth"
    return inputs


def braindive_evaluate_inputs(wildcards):
    s, regions = wildcards.subject, CFG["braindive"]["regions"]
    inputs = braindive_inputs(wildcards)
    inputs.pop("diffusion", None)
    inputs.update(
        unguided=f"{RESULTS}/braindive/unguided/seeds.tsv",
        unguided_images=f"{RESULTS}/braindive/unguided/images",
        scores=[f"{RESULTS}/braindive/sub-{s}/{r}/scores.tsv" for r in regions],
        region_images=[f"{RESULTS}/braindive/sub-{s}/{r}/images" for r in regions],
        features=f"{RESULTS}/features/{CFG['braindive']['backbone']}.h5",
        betas=f"{RESULTS}/preprocess/sub-{s}/betas.h5",
        images=f"{RESULTS}/stimuli/images.h5",
        stimuli=f"{RESULTS}/stimuli/stimuli.tsv",
    )
    if MODE == "demo":
        inputs["oracle"] = f"{RESULTS}/oracle/oracle.pt"
    return inputs


ENCODER_FILES = (
    "encoder.pt",
    "metrics.tsv",
    "regions.tsv",
    "r2.nii.gz",
    "r2_noise_normalised.nii.gz",
    "qc.png",
    "provenance.json",
)


def subject_outputs():
    """The preprocess, rois, features and encoder products of every subject."""
    names = ["betas.h5", "ncsnr.nii.gz", "noiseceiling.nii.gz", "provenance.json"]
    if MODE != "nsd":
        names += ["r2.nii.gz", "hrf_index.nii.gz", "frac.nii.gz", "steps.tsv", "qc"]
    return (
        [f"{RESULTS}/preprocess/sub-{s}/{n}" for s in SUBJECTS for n in names]
        + [f"{RESULTS}/rois/sub-{s}" for s in SUBJECTS]
        + [
            f"{RESULTS}/features/{b}.{ext}"
            for b in ENCODER_BACKBONES
            for ext in ("h5", "provenance.json")
        ]
        + encoder_outputs()
    )


def encoder_outputs():
    return [
        f"{RESULTS}/encoder/sub-{s}/{b}/{f}"
        for s in SUBJECTS
        for b in ENCODER_BACKBONES
        for f in ENCODER_FILES
    ]


def features_inputs(wildcards):
    inputs = {
        "images": f"{RESULTS}/stimuli/images.h5",
        "table": f"{RESULTS}/stimuli/stimuli.tsv",
    }
    if BACKBONES[wildcards.backbone]["kind"] == "demo_clip":
        inputs["demo_clip"] = f"{RESULTS}/models/demo_clip/model.pt"
    return inputs


def encoder_inputs(wildcards):
    inputs = {
        "betas": f"{RESULTS}/preprocess/sub-{wildcards.subject}/betas.h5",
        "features": f"{RESULTS}/features/{wildcards.backbone}.h5",
        "stimuli": f"{RESULTS}/stimuli/stimuli.tsv",
        "rois": f"{RESULTS}/rois/sub-{wildcards.subject}",
    }
    if MODE == "demo":
        inputs["truth"] = f"{RESULTS}/truth"
    return inputs


def bids_root():
    return f"{RESULTS}/bids" if MODE == "demo" else CFG["bids"]["root"]


def preprocess_inputs(wildcards):
    inputs = {"bids": bids_root(), "stimuli": f"{RESULTS}/stimuli/stimuli.tsv"}
    if MODE == "demo":
        inputs["truth"] = f"{RESULTS}/truth"
    return inputs


def rois_inputs(wildcards):
    inputs = {
        "bids": bids_root(),
        "stimuli": f"{RESULTS}/stimuli/stimuli.tsv",
        "betas": f"{RESULTS}/preprocess/sub-{wildcards.subject}/betas.h5",
    }
    if MODE == "demo":
        inputs["truth"] = f"{RESULTS}/truth"
    return inputs


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


def nsd_subject_paths(subject, kind, name_contains=""):
    """Local paths of one subject's NSD files of ``kind`` (sorted by session)."""
    root = CFG["nsd"]["root"]
    files = [
        f
        for f in NSD_FILES
        if f.kind == kind and f.subject == int(subject) and name_contains in f.path
    ]
    return [
        os.path.join(root, f.path) for f in sorted(files, key=lambda f: f.session or 0)
    ]


def nsd_floc_inputs(wildcards):
    """NSD's floc ROI files of one subject, keyed floc-faces, floc-places, ..."""
    return {
        os.path.basename(p).replace(".nii.gz", ""): p
        for p in nsd_subject_paths(wildcards.subject, "roi", "floc-")
    }


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
    inputs.update(
        {
            f"preprocess_{s}": f"{RESULTS}/preprocess/sub-{s}/provenance.json"
            for s in SUBJECTS
        }
    )
    inputs.update({f"rois_{s}": f"{RESULTS}/rois/sub-{s}" for s in SUBJECTS})
    if MODE == "demo":
        inputs["demo_clip"] = f"{RESULTS}/models/demo_clip/retrieval.tsv"
        inputs["demo_diffusion"] = f"{RESULTS}/models/demo_diffusion/loss.tsv"
    inputs.update(
        {
            f"braindive_{s}": f"{RESULTS}/evaluation/sub-{s}/braindive/summary.tsv"
            for s in SUBJECTS
        }
    )
    inputs.update(
        {
            f"encoder_{s}_{b}": f"{RESULTS}/encoder/sub-{s}/{b}/provenance.json"
            for s in SUBJECTS
            for b in ENCODER_BACKBONES
        }
    )
    inputs.update(
        visual_search=f"{RESULTS}/visual_search/asymmetry.tsv",
        triplet_fit=f"{RESULTS}/triplets/fit/provenance.json",
    )
    if ODD_ONE_OUT:
        inputs["odd_one_out"] = f"{RESULTS}/triplets/odd_one_out/provenance.json"
    if BRAINSCUBA:
        for s in SUBJECTS:
            inputs[f"brainscuba_{s}"] = (
                f"{RESULTS}/brainscuba/sub-{s}/semantics/regions.tsv"
            )
            inputs[f"brainscuba_images_{s}"] = (
                f"{RESULTS}/evaluation/sub-{s}/brainscuba/summary.tsv"
            )
    return inputs


NETWORKS = CFG["networks"]
VS = CFG["visual_search"]
TRIPLETS = CFG["triplets"]
OOO = TRIPLETS["odd_one_out"]
# odd-one-out embeddings: simulated in the demo, elsewhere only from a THINGS-format file
ODD_ONE_OUT = MODE == "demo" or OOO["triplets"] is not None
VISUAL_SEARCH_FILES = ("rt.tsv", "asymmetry.tsv", "curves.png", "provenance.json")
TRIPLET_SEARCH_FILES = ("triplets.tsv", "coverage.tsv", "search.png", "provenance.json")
TRIPLET_FIT_FILES = (
    "weights.tsv",
    "predictivity.tsv",
    "surface.png",
    "layers.png",
    "provenance.json",
)
ODD_ONE_OUT_FILES = (
    "embedding.tsv",
    "dimensions.tsv",
    "dimensions.png",
    "provenance.json",
)


def network_inputs(name):
    """The files a ``networks`` entry needs: the demo CNN's weights, when it is the demo's own."""
    if NETWORKS[name]["kind"] == "demo_cnn":
        return {"demo_cnn": f"{RESULTS}/models/demo_cnn/model.pt"}
    return {}


def triplet_image_files():
    """(images.h5, stimuli.tsv) of the image set the triplets are built from."""
    name = TRIPLETS["images"]
    folder = {"stimuli": "stimuli", "pool": "pool"}.get(name, "triplets/images")
    return {
        "images": f"{RESULTS}/{folder}/images.h5",
        "table": f"{RESULTS}/{folder}/stimuli.tsv",
    }


def triplet_inputs(wildcards):
    return {**triplet_image_files(), **network_inputs(TRIPLETS["network"])}


def triplet_network():
    return {"name": TRIPLETS["network"], "spec": NETWORKS[TRIPLETS["network"]]}


def behaviour_outputs():
    """Visual search and triplet products (the stages that do not depend on subjects)."""
    outs = [f"{RESULTS}/visual_search/{f}" for f in VISUAL_SEARCH_FILES] + [
        f"{RESULTS}/visual_search/{m}/{e}/{f}"
        for m in VS["models"]
        for e in VS["experiments"]
        for f in ("fixations.tsv", "scanpaths.png", "provenance.json")
    ]
    outs += [f"{RESULTS}/triplets/search/{f}" for f in TRIPLET_SEARCH_FILES]
    outs += [
        f"{RESULTS}/triplets/choices/{f}" for f in ("choices.tsv", "provenance.json")
    ]
    outs += [f"{RESULTS}/triplets/fit/{f}" for f in TRIPLET_FIT_FILES]
    if ODD_ONE_OUT:
        outs += [f"{RESULTS}/triplets/odd_one_out/{f}" for f in ODD_ONE_OUT_FILES]
    if MODE == "demo":
        outs += [
            f"{RESULTS}/models/demo_cnn/{f}"
            for f in ("model.pt", "curve.tsv", "provenance.json")
        ]
    return outs


BS = CFG["brainscuba"]
BRAINSCUBA = brainscuba_enabled(CFG)
BRAINSCUBA_SEMANTIC_FILES = (
    "regions.tsv",
    "nouns.tsv",
    "examples.tsv",
    "category_map.png",
    "provenance.json",
)
BRAINSCUBA_IMAGE_FILES = ("summary.tsv", "images.tsv", "grid.png", "provenance.json")


def brainscuba_bank():
    """The image bank's shards: the demo's pool embeddings, or the configured shards."""
    if MODE == "demo":
        return [f"{RESULTS}/brainscuba/bank/pool.h5"]
    return bank_paths(BS["bank"])


def brainscuba_encoder(wildcards):
    return f"{RESULTS}/encoder/sub-{wildcards.subject}/{BS['backbone']}/encoder.pt"


def brainscuba_region_inputs(wildcards):
    inputs = {
        "encoder": brainscuba_encoder(wildcards),
        "rois": f"{RESULTS}/rois/sub-{wildcards.subject}",
    }
    if MODE == "demo":
        inputs["truth"] = f"{RESULTS}/truth"
    return inputs


def brainscuba_caption_inputs(wildcards):
    inputs = {
        **brainscuba_region_inputs(wildcards),
        "projection": f"{RESULTS}/brainscuba/sub-{wildcards.subject}/projection.h5",
    }
    if BS["captioner"]["kind"] == "demo_captioner":
        inputs["captioner"] = f"{RESULTS}/models/demo_captioner/model.pt"
    return inputs


def brainscuba_image_inputs(wildcards):
    inputs = {
        **brainscuba_region_inputs(wildcards),
        **diffusion_inputs(wildcards),
        "captions": f"{RESULTS}/brainscuba/sub-{wildcards.subject}/captions.tsv",
        "unguided": f"{RESULTS}/braindive/unguided/seeds.tsv",
        "unguided_images": f"{RESULTS}/braindive/unguided/images",
    }
    if BACKBONES[BS["backbone"]]["kind"] == "demo_clip":
        inputs["demo_clip"] = f"{RESULTS}/models/demo_clip/model.pt"
    if MODE == "demo":
        inputs["oracle"] = f"{RESULTS}/oracle/oracle.pt"
    return inputs


def brainscuba_outputs():
    """Per subject: projection, captions, semantics, caption-driven images and their evaluation."""
    if not BRAINSCUBA:
        return []
    outs = []
    for s in SUBJECTS:
        d = f"{RESULTS}/brainscuba/sub-{s}"
        outs += [f"{d}/{f}" for f in ("projection.h5", "projection.provenance.json")]
        outs += [f"{d}/{f}" for f in ("captions.tsv", "captions.provenance.json")]
        outs += [f"{d}/semantics/{f}" for f in BRAINSCUBA_SEMANTIC_FILES]
        outs.append(f"{d}/images")
        outs += [
            f"{RESULTS}/evaluation/sub-{s}/brainscuba/{f}"
            for f in BRAINSCUBA_IMAGE_FILES
        ]
    if MODE == "demo":
        outs += [
            f"{RESULTS}/brainscuba/bank/{f}"
            for f in ("pool.h5", "pool.provenance.json")
        ]
        outs += [
            f"{RESULTS}/models/demo_captioner/{f}"
            for f in ("model.pt", "curve.tsv", "provenance.json")
        ]
    return outs
