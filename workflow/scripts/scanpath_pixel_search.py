from cortexplorer.runner import run_stage
from cortexplorer.scanpaths.stage import pixel_search_stage

run_stage(snakemake, pixel_search_stage)  # noqa: F821 (injected by Snakemake)
