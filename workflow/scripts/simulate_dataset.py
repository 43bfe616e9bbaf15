from cortexplorer.runner import run_stage
from cortexplorer.simulate.subject import write_simulated_dataset

run_stage(snakemake, write_simulated_dataset)  # noqa: F821 (injected by Snakemake)
