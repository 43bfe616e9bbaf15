import torch

from cortexplorer.features.extract import extract_features
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
p = smk.params
run_stage(smk, extract_features, images_h5=smk.input.images, stimuli_tsv=smk.input.table, name=p.backbone,
          spec=p.spec, out_h5=smk.output.features, out_provenance=smk.output.provenance, batch_size=p.batch_size,
          demo_weights=smk.input.demo_clip, device=p.device, seed=p.seed, normalize=False)
