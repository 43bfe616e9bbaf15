from cortexplorer.nsd.stage import nsd_stimuli
from cortexplorer.runner import run_stage

run_stage(snakemake, nsd_stimuli)  # noqa: F821 (injected by Snakemake)
