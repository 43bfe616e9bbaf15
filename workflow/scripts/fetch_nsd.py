from cortexplorer.nsd.stage import fetch_nsd_file
from cortexplorer.runner import run_stage

run_stage(snakemake, fetch_nsd_file)  # noqa: F821 (injected by Snakemake)
