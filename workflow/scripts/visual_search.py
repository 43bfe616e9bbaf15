import torch

from cortexplorer.models.cnn import load_network
from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import run_search

smk = snakemake  # noqa: F821 (injected by Snakemake)
torch.set_num_threads(smk.threads)
out, network = smk.output, smk.params.network


def search_with_network(**kwargs):
    cnn = load_network(network["name"], network["spec"], demo_weights=smk.input.get("demo_cnn"),
                       device=smk.params.device, seed=smk.params.seed)
    return run_search(network=cnn, **kwargs)


run_stage(smk, search_with_network, stim_dir=smk.input.stimuli, model=smk.wildcards.model,
          out_fixations_tsv=out.fixations, out_scanpaths_png=out.scanpaths, seed=smk.params.seed,
          recognition_px=smk.params.recognition_px, batch_size=smk.params.batch_size, out_provenance=out.provenance)
