from cortexplorer.nsd.stage import nsd_rois
from cortexplorer.runner import run_stage

run_stage(snakemake, nsd_rois)  # noqa: F821 (injected by Snakemake)
