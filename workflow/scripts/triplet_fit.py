from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import fit

run_stage(snakemake, fit)  # noqa: F821 (injected by Snakemake)
