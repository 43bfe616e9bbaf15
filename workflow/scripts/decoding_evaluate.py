from cortexplorer.decoding.stage import evaluate_stage
from cortexplorer.runner import run_stage

run_stage(snakemake, evaluate_stage)  # noqa: F821 (injected by Snakemake)
