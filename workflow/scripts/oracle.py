from cortexplorer.oracle.classifier import train_oracle
from cortexplorer.runner import run_stage

run_stage(snakemake, train_oracle)  # noqa: F821 (injected by Snakemake)
