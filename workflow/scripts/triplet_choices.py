from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import choices

run_stage(snakemake, choices)  # noqa: F821 (injected by Snakemake)
