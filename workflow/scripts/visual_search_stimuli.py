from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import generate_stimuli

run_stage(snakemake, generate_stimuli)  # noqa: F821 (injected by Snakemake)
