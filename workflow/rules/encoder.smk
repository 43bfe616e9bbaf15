# Stage `encoder`: per-voxel ridge from one backbone's features to one subject's betas.


rule encoder:
    """Fit the voxelwise encoder (alpha per voxel by grouped CV) and score it on the test images."""
    input:
        unpack(encoder_inputs),
    output:
        model=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/encoder.pt",
        metrics=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/metrics.tsv",
        regions=report(
            f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/regions.tsv",
            caption="../report/encoder.rst",
            category="Encoders",
            subcategory="sub-{subject} {backbone}",
            labels={"table": "accuracy per region"},
        ),
        r2=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/r2.nii.gz",
        r2nn=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/r2_noise_normalised.nii.gz",
        qc=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/qc.png",
        provenance=f"{RESULTS}/encoder/sub-{{subject}}/{{backbone}}/provenance.json",
    log:
        f"{LOGS}/encoder_sub-{{subject}}_{{backbone}}.log",
    benchmark:
        f"{BENCH}/encoder_sub-{{subject}}_{{backbone}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=CFG["encoder"],
        spec=lambda wildcards: BACKBONES[wildcards.backbone],
        seed=SEED,
        code=source_digest("cortexplorer.encoder", "cortexplorer.features"),
    script:
        "../scripts/encoder.py"
