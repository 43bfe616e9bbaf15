from cortexplorer.brainscuba.stage import run_captions
from cortexplorer.runner import run_stage

run_stage(snakemake, run_captions)  # noqa: F821 (injected by Snakemake)
