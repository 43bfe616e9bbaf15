from cortexplorer.rois.localizer import localizer_rois
from cortexplorer.runner import run_stage

run_stage(snakemake, localizer_rois)  # noqa: F821 (injected by Snakemake)
