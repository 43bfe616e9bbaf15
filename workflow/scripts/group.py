from cortexplorer.group import group_summary
from cortexplorer.runner import run_stage

run_stage(snakemake, group_summary)  # noqa: F821 (injected by Snakemake)
