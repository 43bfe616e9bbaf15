from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import generate_stimuli

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(smk, generate_stimuli, experiment=smk.wildcards.experiment, out_dir=smk.output.stimuli,
          scale=smk.params.scale, trials_per_set_size=smk.params.trials_per_set_size, seed=smk.params.seed)
