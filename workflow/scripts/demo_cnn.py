from cortexplorer.models.demo_cnn import train_demo_cnn
from cortexplorer.runner import run_stage

run_stage(snakemake, train_demo_cnn)  # noqa: F821 (injected by Snakemake)
