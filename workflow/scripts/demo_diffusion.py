from cortexplorer.models.demo_diffusion import train_demo_diffusion
from cortexplorer.runner import run_stage

run_stage(snakemake, train_demo_diffusion)  # noqa: F821 (injected by Snakemake)
