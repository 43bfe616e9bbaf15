from cortexplorer.runner import run_stage
from cortexplorer.scanpaths.stage import evaluate_stage

run_stage(snakemake, evaluate_stage)  # noqa: F821 (injected by Snakemake)
