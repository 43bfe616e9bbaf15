# Input functions, constants and targets of stage `nsd` (its rules are in ../nsd.smk).
# nsd.root) and import the subjects' stimuli. Fetching happens in jobs, never at DAG build,
# so `snakemake -n` works offline.
from cortexplorer.nsd.manifest import load_manifest
from cortexplorer.nsd.settings import FetchSettings, NsdStimuliSettings

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


def nsd_expected_bytes(nsd_path):
    return {f.path: f.bytes for f in NSD_FILES}[nsd_path]


def nsd_path_pattern():
    return "|".join(re.escape(f.path) for f in NSD_FILES)
