from cortexplorer.report import build_dashboard
from cortexplorer.runner import run_stage

run_stage(snakemake, build_dashboard)  # noqa: F821 (injected by Snakemake)
