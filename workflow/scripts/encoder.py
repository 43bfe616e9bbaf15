from cortexplorer.encoder.stage import fit_encoder
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
s = smk.params.settings
out = smk.output
run_stage(smk, fit_encoder, betas_h5=smk.input.betas, features_h5=smk.input.features, stimuli_tsv=smk.input.stimuli,
          out_model=out.model, out_metrics=out.metrics, out_regions=out.regions,
          out_maps={"r2": out.r2, "r2_noise_normalised": out.r2nn}, out_qc=out.qc, out_provenance=out.provenance,
          backbone=smk.wildcards.backbone, backbone_spec=smk.params.spec, target=s["target"], test_split=s["test_split"], n_folds=s["n_folds"],
          alphas=s["alphas"], seed=smk.params.seed, rois_dir=smk.input.rois, truth_dir=smk.input.get("truth"))
