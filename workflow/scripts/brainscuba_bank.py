from cortexplorer.brainscuba.stage import embed_bank
from cortexplorer.runner import run_stage

run_stage(snakemake, embed_bank)  # noqa: F821 (injected by Snakemake)
