from cortexplorer.decoding.stage import baseline_stage
from cortexplorer.runner import run_stage

run_stage(snakemake, baseline_stage)  # noqa: F821 (injected by Snakemake)
