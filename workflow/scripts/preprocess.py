from cortexplorer.preprocess.stage import preprocess_bold
from cortexplorer.runner import run_stage

run_stage(snakemake, preprocess_bold)  # noqa: F821 (injected by Snakemake)
