from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import search

run_stage(snakemake, search)  # noqa: F821 (injected by Snakemake)
