import torch

from cortexplorer.braindive.stage import generate_unguided
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out = smk.output
run_stage(smk, generate_unguided, out_images=out.images, out_table=out.table, out_grid=out.grid,
          out_provenance=out.provenance, demo_diffusion=smk.input.get("diffusion"), device=smk.params.device,
          seed=smk.params.seed, **smk.params.settings)
