from cortexplorer.nsd import import_nsd_rois
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(smk, import_nsd_rois, roi_files=dict(smk.input.items()), out_dir=smk.output.rois)
