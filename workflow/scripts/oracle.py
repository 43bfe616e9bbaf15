import torch

from cortexplorer.oracle import train_oracle
from cortexplorer.runner import run_stage

torch.set_num_threads(snakemake.threads)  # noqa: F821 (injected by Snakemake)
out = snakemake.output  # noqa: F821
run_stage(snakemake, train_oracle, out_model=out.model, out_metrics=out.metrics,  # noqa: F821
          out_provenance=out.provenance, **snakemake.params.settings)  # noqa: F821
