from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import search_displays

run_stage(snakemake, search_displays)  # noqa: F821 (injected by Snakemake)
