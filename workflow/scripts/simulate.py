from cortexplorer.runner import run_stage
from cortexplorer.simulate.subject import simulate_subject

run_stage(snakemake, simulate_subject)  # noqa: F821 (injected by Snakemake)
