from cortexplorer.nsd.stage import nsd_betas
from cortexplorer.runner import run_stage

run_stage(snakemake, nsd_betas)  # noqa: F821 (injected by Snakemake)
