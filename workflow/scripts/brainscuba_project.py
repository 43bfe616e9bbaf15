import torch

from cortexplorer.brainscuba.stage import run_projection
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
p = smk.params
run_stage(smk, run_projection, encoder_path=smk.input.encoder, bank=list(smk.input.bank),
          out_h5=smk.output.projection, out_provenance=smk.output.provenance, device=p.device, seed=p.seed,
          **p.settings)
