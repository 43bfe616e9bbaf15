from cortexplorer.decoding.stage import images_stage
from cortexplorer.runner import run_stage

run_stage(snakemake, images_stage)  # noqa: F821 (injected by Snakemake)
