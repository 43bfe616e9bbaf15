from cortexplorer.models.demo_clip import train_demo_clip
from cortexplorer.runner import run_stage

run_stage(snakemake, train_demo_clip)  # noqa: F821 (injected by Snakemake)
