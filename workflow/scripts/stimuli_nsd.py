from cortexplorer.nsd import import_nsd_stimuli
from cortexplorer.runner import run_stage

inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821 (injected by Snakemake)
run_stage(snakemake, import_nsd_stimuli, stimuli_hdf5=inp.hdf5, expdesign_mat=inp.expdesign,  # noqa: F821
          stim_info_csv=inp.stim_info, subjects=params.subjects, image_size=params.image_size,
          out_h5=out.images, out_tsv=out.table, out_provenance=out.provenance)
