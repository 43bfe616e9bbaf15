import os

from cortexplorer.preprocess.stage import preprocess_bold
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
s = smk.params.settings
run_stage(smk, preprocess_bold, bids_dir=smk.input.bids, stimuli_tsv=smk.input.stimuli, subject=smk.wildcards.subject,
          task=s["task"], space=s["space"] or None, confounds=s["confounds"], recipe=s["recipe"],
          out_dir=os.path.dirname(smk.output.betas),
          truth_dir=smk.input.get("truth"), n_repeats=s["n_repeats"], seed=smk.params.seed)
