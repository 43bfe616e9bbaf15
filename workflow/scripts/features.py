import torch

from cortexplorer.features import extract_features
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
run_stage(smk, extract_features, images_h5=smk.input.images, stimuli_tsv=smk.input.table, name=smk.wildcards.backbone,
          spec=smk.params.spec, out_h5=smk.output.features, out_provenance=smk.output.provenance,
          batch_size=smk.params.batch_size, demo_weights=smk.input.get("demo_clip"), device=smk.params.device,
          seed=smk.params.seed)
