from cortexplorer.runner import run_stage
from cortexplorer.stimuli.stage import write_demo_image_set

run_stage(snakemake, write_demo_image_set)  # noqa: F821 (injected by Snakemake)
