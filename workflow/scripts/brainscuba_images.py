from cortexplorer.brainscuba.stage import run_caption_images
from cortexplorer.runner import run_stage

run_stage(snakemake, run_caption_images)  # noqa: F821 (injected by Snakemake)
