from cortexplorer.models.prior_quality import judge_demo_prior
from cortexplorer.runner import run_stage

run_stage(snakemake, judge_demo_prior)  # noqa: F821 (injected by Snakemake)
