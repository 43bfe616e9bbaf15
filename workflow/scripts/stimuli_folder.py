from cortexplorer.runner import run_stage
from cortexplorer.stimuli.stage import import_stimuli_folder

run_stage(snakemake, import_stimuli_folder)  # noqa: F821 (injected by Snakemake)
