# Stage `features`: unit-normalised embeddings of every stimulus, one file per backbone.


include: "functions/features.smk"


rule features:
    """Embed every stimulus with one backbone (recorded in the file with its weights' hash)."""
    input:
        unpack(features_inputs),
    output:
        features=L.features("{backbone}").features,
        provenance=L.features("{backbone}").provenance,
    log:
        L.log("features_{backbone}"),
    benchmark:
        L.benchmark("features_{backbone}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=lambda wildcards: as_params(
            FeaturesSettings.from_config(CFG, wildcards.backbone)
        ),
        code=source_digest("cortexplorer.features", "cortexplorer.models.backbone"),
    script:
        "../scripts/features.py"
