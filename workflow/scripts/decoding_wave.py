from cortexplorer.decoding.stage import wave_stage
from cortexplorer.runner import run_stage

run_stage(snakemake, wave_stage)  # noqa: F821 (injected by Snakemake)
