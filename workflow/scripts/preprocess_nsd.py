from cortexplorer.nsd import import_nsd_betas
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
inp, out = smk.input, smk.output
run_stage(smk, import_nsd_betas, subject=int(smk.wildcards.subject), sessions=smk.params.sessions,
          betas_files=list(inp.betas), expdesign_mat=inp.expdesign, ncsnr_nii=inp.ncsnr[0], mask_nii=inp.mask[0],
          out_h5=out.betas, out_ncsnr=out.ncsnr, out_noiseceiling=out.noiseceiling, out_provenance=out.provenance)
