from cortexplorer.features.extract import embed_stimuli
from cortexplorer.runner import run_stage

run_stage(snakemake, embed_stimuli)  # noqa: F821 (injected by Snakemake)
