from cortexplorer.runner import run_stage
from cortexplorer.scanpaths.stage import make_displays_stage

run_stage(snakemake, make_displays_stage)  # noqa: F821 (injected by Snakemake)
