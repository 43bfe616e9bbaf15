from cortexplorer.nsd import fetch_file
from cortexplorer.runner import run_stage

run_stage(snakemake, fetch_file, url=snakemake.params.url, dest=snakemake.output[0],  # noqa: F821
          expected_bytes=snakemake.params.expected_bytes)  # noqa: F821
