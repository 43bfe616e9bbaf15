# Stage `encoder`: per-voxel ridge from one backbone's features to one subject's betas.


include: "functions/encoder.smk"


rule encoder:
    """Fit the voxelwise encoder (alpha per voxel by grouped CV) and score it on the test images."""
    input:
        unpack(encoder_inputs),
    output:
        model=L.encoder("{subject}", "{backbone}").model,
        metrics=L.encoder("{subject}", "{backbone}").metrics,
        regions=report(
            L.encoder("{subject}", "{backbone}").regions,
            caption="../report/encoder.rst",
            category="Encoders",
            subcategory="sub-{subject} {backbone}",
            labels={"table": "accuracy per region"},
        ),
        r2=L.encoder("{subject}", "{backbone}").r2,
        r2nn=L.encoder("{subject}", "{backbone}").r2nn,
        qc=L.encoder("{subject}", "{backbone}").qc,
        provenance=L.encoder("{subject}", "{backbone}").provenance,
    log:
        L.log("encoder_sub-{subject}_{backbone}"),
    benchmark:
        L.benchmark("encoder_sub-{subject}_{backbone}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=lambda wildcards: as_params(
            EncoderSettings.from_config(CFG, wildcards.backbone)
        ),
        code=source_digest(
            "cortexplorer.encoder",
            "cortexplorer.features",
            "cortexplorer.io.truth",
            "cortexplorer.io.figures",
        ),
    script:
        "../scripts/encoder.py"
