import torch

from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import fit

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out, network = smk.output, smk.params.network
run_stage(smk, fit, choices_tsv=smk.input.choices, images_h5=smk.input.images, images_tsv=smk.input.table,
          network_name=network["name"], network_spec=network["spec"], demo_weights=smk.input.get("demo_cnn"),
          seed=smk.params.seed, device=smk.params.device, out_weights=out.weights,
          out_predictivity=out.predictivity, out_surface=out.surface, out_layers_figure=out.layers,
          out_provenance=out.provenance, **smk.params.settings)
