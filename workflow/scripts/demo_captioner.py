from cortexplorer.models.demo_captioner import train_demo_captioner
from cortexplorer.runner import run_stage

run_stage(snakemake, train_demo_captioner)  # noqa: F821 (injected by Snakemake)
