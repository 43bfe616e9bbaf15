from cortexplorer.runner import run_stage
from cortexplorer.visual_search.stage import summarise

smk = snakemake  # noqa: F821 (injected by Snakemake)
paths = iter(smk.input.fixations)  # expand() order: model-major, then experiment
tables = {m: {e: next(paths) for e in smk.params.experiments} for m in smk.params.models}
run_stage(smk, summarise, fixation_tsvs=tables, human_table=None, out_rt_tsv=smk.output.rt,
          out_asymmetry_tsv=smk.output.asymmetry, out_curves_png=smk.output.curves,
          out_provenance=smk.output.provenance)
