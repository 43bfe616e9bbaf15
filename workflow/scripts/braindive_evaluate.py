import torch

from cortexplorer.braindive.evaluate import evaluate_braindive
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
p, i, out = smk.params, smk.input, smk.output
run_stage(smk, evaluate_braindive, regions=p.regions, region_dirs=[s.rsplit("/", 1)[0] for s in i.scores],
          unguided_dir=i.unguided.rsplit("/", 1)[0], encoder_path=i.encoder, rois_dir=i.rois, backbone=p.backbone,
          backbone_spec=p.spec, features_h5=i.features, betas_h5=i.betas, stimuli_h5=i.images,
          stimuli_tsv=i.stimuli, out_summary=out.summary, out_images=out.images, out_figure=out.figure,
          out_grids=out.grids, out_provenance=out.provenance, demo_clip=i.get("demo_clip"), oracle=i.get("oracle"),
          truth_dir=i.get("truth"), classifier=p.classifier, device=p.device, seed=p.seed)
