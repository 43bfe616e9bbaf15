from cortexplorer.runner import run_stage
from cortexplorer.stimuli.folder import import_image_folder

out = snakemake.output  # noqa: F821 (injected by Snakemake)
run_stage(snakemake, import_image_folder, folder=snakemake.input.folder,  # noqa: F821
          image_size=snakemake.params.image_size, out_h5=out.images, out_tsv=out.table,  # noqa: F821
          out_provenance=out.provenance)
