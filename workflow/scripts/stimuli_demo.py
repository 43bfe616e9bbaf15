from cortexplorer.runner import run_stage
from cortexplorer.stimuli import make_demo_image_set

out = snakemake.output  # noqa: F821 (injected by Snakemake)
run_stage(snakemake, make_demo_image_set, name=snakemake.wildcards.imageset, out_h5=out.images,  # noqa: F821
          out_tsv=out.table, out_provenance=out.provenance, **snakemake.params.settings)  # noqa: F821
