import torch

from cortexplorer.braindive.stage import generate_region
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out = smk.output
run_stage(smk, generate_region, region=smk.wildcards.region, encoder_path=smk.input.encoder, rois_dir=smk.input.rois,
          out_images=out.images, out_scores=out.scores, out_grid=out.grid, out_provenance=out.provenance,
          backbone=smk.params.backbone, backbone_spec=smk.params.spec, demo_diffusion=smk.input.get("diffusion"),
          demo_clip=smk.input.get("demo_clip"), truth_dir=smk.input.get("truth"), device=smk.params.device,
          seed=smk.params.seed, **smk.params.settings)
