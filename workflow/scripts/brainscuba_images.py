import torch

from cortexplorer.brainscuba.stage import run_caption_images
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
p, i, out = smk.params, smk.input, smk.output
run_stage(smk, run_caption_images, captions_tsv=i.captions, encoder_path=i.encoder, rois_dir=i.rois,
          regions=p.regions, unguided_dir=i.unguided.rsplit("/", 1)[0], out_images=out.images, out_table=out.table,
          out_summary=out.summary, out_grid=out.grid, out_provenance=out.provenance, backbone=p.backbone,
          backbone_spec=p.spec, diffusion_spec=p.diffusion, demo_clip=i.get("demo_clip"),
          demo_diffusion=i.get("diffusion"), oracle=i.get("oracle"), truth_dir=i.get("truth"), classifier=p.classifier,
          device=p.device, seed=p.seed, **p.settings)
