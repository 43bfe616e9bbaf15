from cortexplorer.encoder.stage import fit_encoder
from cortexplorer.runner import run_stage

run_stage(snakemake, fit_encoder)  # noqa: F821 (injected by Snakemake)
