import torch

from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import search

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out, network = smk.output, smk.params.network
run_stage(smk, search, images_h5=smk.input.images, images_tsv=smk.input.table, network_name=network["name"],
          network_spec=network["spec"], demo_weights=smk.input.get("demo_cnn"), grid=smk.params.grid,
          seed=smk.params.seed, device=smk.params.device, out_triplets=out.triplets, out_coverage=out.coverage,
          out_figure=out.figure, out_provenance=out.provenance, **smk.params.settings)
