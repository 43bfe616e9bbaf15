from cortexplorer.decoding.stage import windows_stage
from cortexplorer.runner import run_stage

run_stage(snakemake, windows_stage)  # noqa: F821 (injected by Snakemake)
