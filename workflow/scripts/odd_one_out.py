from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import odd_one_out

run_stage(snakemake, odd_one_out)  # noqa: F821 (injected by Snakemake)
