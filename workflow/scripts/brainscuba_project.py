from cortexplorer.brainscuba.stage import run_projection
from cortexplorer.runner import run_stage

run_stage(snakemake, run_projection)  # noqa: F821 (injected by Snakemake)
