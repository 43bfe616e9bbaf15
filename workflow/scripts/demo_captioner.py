import torch

from cortexplorer.brainscuba.stage import run_demo_captioner
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out = smk.output
run_stage(smk, run_demo_captioner, bank_h5=smk.input.bank, pool_table=smk.input.table, out_model=out.model,
          out_curve=out.curve, out_provenance=out.provenance, seed=smk.params.seed, **smk.params.settings)
