from cortexplorer.braindive.evaluate import evaluate_braindive
from cortexplorer.runner import run_stage

run_stage(snakemake, evaluate_braindive)  # noqa: F821 (injected by Snakemake)
