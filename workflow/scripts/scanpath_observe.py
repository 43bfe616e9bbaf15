from cortexplorer.runner import run_stage
from cortexplorer.scanpaths.stage import observe_stage

run_stage(snakemake, observe_stage)  # noqa: F821 (injected by Snakemake)
