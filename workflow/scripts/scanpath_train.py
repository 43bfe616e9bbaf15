from cortexplorer.runner import run_stage
from cortexplorer.scanpaths.stage import train_stage

run_stage(snakemake, train_stage)  # noqa: F821 (injected by Snakemake)
