# Stage `features`: unit-normalised embeddings of every stimulus, one file per backbone.


rule features:
    """Embed every stimulus with one backbone (recorded in the file with its weights' hash)."""
    input:
        unpack(features_inputs),
    output:
        features=f"{RESULTS}/features/{{backbone}}.h5",
        provenance=f"{RESULTS}/features/{{backbone}}.provenance.json",
    log:
        f"{LOGS}/features_{{backbone}}.log",
    benchmark:
        f"{BENCH}/features_{{backbone}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        spec=lambda wildcards: BACKBONES[wildcards.backbone],
        batch_size=CFG["features"]["batch_size"],
        device=CFG["device"],
        seed=SEED,
        code=source_digest("cortexplorer.features", "cortexplorer.models.backbone"),
    script:
        "../scripts/features.py"
