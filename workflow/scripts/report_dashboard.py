from cortexplorer.report import build_dashboard
from cortexplorer.runner import run_stage

p = snakemake.params  # noqa: F821 (injected by Snakemake)
run_stage(snakemake, build_dashboard, out_html=snakemake.output.html, results_dir=p.results_dir,  # noqa: F821
          dataset=p.dataset, mode=p.mode, montage_per_category=p.montage_per_category, nsd_files=p.nsd_files,
          bench_dir=p.bench_dir, log_dir=p.log_dir, config=p.config)
