import os

from cortexplorer.runner import run_stage
from cortexplorer.simulate import simulate_subject

inp, out = snakemake.input, snakemake.output  # noqa: F821 (injected by Snakemake)
run_stage(snakemake, simulate_subject, stimuli_dir=os.path.dirname(inp.stimuli),  # noqa: F821
          localizer_dir=os.path.dirname(inp.localizer), oracle_path=inp.oracle, bids_dir=out.bids,
          truth_dir=out.truth, seed=snakemake.params.seed, **snakemake.params.settings)  # noqa: F821
