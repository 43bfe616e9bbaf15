from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import summarise_search

run_stage(snakemake, summarise_search)  # noqa: F821 (injected by Snakemake)
