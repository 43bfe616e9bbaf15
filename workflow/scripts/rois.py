from cortexplorer.rois.localizer import localizer_rois
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
s = smk.params.settings
run_stage(smk, localizer_rois, bids_dir=smk.input.bids, subject=smk.wildcards.subject, task=s["task"],
          space=smk.params.space or None, categories=s["categories"], confounds=smk.params.confounds,
          t_threshold=s["t_threshold"], min_cluster_mm3=s["min_cluster_mm3"], category_map=s["category_map"],
          ignore=s["ignore"], betas_h5=smk.input.betas,
          stimuli_tsv=smk.input.stimuli, out_dir=smk.output.rois, truth_dir=smk.input.get("truth"))
