import torch

from cortexplorer.brainscuba.stage import run_captions
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
p, i = smk.params, smk.input
run_stage(smk, run_captions, projection_h5=i.projection, encoder_path=i.encoder, rois_dir=i.rois, regions=p.regions,
          out_tsv=smk.output.captions, out_provenance=smk.output.provenance, captioner=p.captioner,
          demo_captioner=i.get("captioner"), truth_dir=i.get("truth"), device=p.device, seed=p.seed, **p.settings)
