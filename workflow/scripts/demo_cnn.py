import torch

from cortexplorer.models.demo_cnn import train_demo_cnn
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out = smk.output
run_stage(smk, train_demo_cnn, pool_images=smk.input.images, pool_table=smk.input.table, out_model=out.model,
          out_curve=out.curve, out_provenance=out.provenance, seed=smk.params.seed, **smk.params.settings)
