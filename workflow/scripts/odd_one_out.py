import torch

from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import odd_one_out

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out = smk.output
run_stage(smk, odd_one_out, triplets_path=smk.input.get("triplets"), labels_path=smk.input.get("labels"),
          images_h5=smk.input.get("images"), images_tsv=smk.input.get("table"), seed=smk.params.seed,
          device=smk.params.device, out_embedding=out.embedding, out_dimensions=out.dimensions,
          out_figure=out.figure, out_provenance=out.provenance, **smk.params.settings)
