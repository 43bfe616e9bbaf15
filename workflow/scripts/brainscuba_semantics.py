from cortexplorer.brainscuba.stage import run_semantics
from cortexplorer.runner import run_stage

run_stage(snakemake, run_semantics)  # noqa: F821 (injected by Snakemake)
