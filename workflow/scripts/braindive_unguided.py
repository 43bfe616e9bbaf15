from cortexplorer.braindive.stage import generate_unguided
from cortexplorer.runner import run_stage

run_stage(snakemake, generate_unguided)  # noqa: F821 (injected by Snakemake)
