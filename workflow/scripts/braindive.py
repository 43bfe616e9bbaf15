from cortexplorer.braindive.stage import generate_region
from cortexplorer.runner import run_stage

run_stage(snakemake, generate_region)  # noqa: F821 (injected by Snakemake)
