from cortexplorer.brainscuba.bank_build import run_bank_manifest
from cortexplorer.runner import run_stage

run_stage(snakemake, run_bank_manifest)  # noqa: F821 (injected by Snakemake)
