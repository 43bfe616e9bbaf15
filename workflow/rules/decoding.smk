# Stage `decoding`: what was seen, decoded from brain activity (issue 23).


include: "functions/decoding.smk"


rule decoding_windows:
    """One subject's parcel time series, confounds regressed, cut into a window per trial."""
    input:
        unpack(decoding_windows_inputs),
    output:
        windows=L.decoding_windows("{subject}").windows,
        provenance=L.decoding_windows("{subject}").provenance,
    log:
        L.log("decoding_windows_sub-{subject}"),
    benchmark:
        L.benchmark("decoding_windows_sub-{subject}")
    conda:
        DATA_ENV
    resources:
        mem_mb=6000,
        runtime=30,
    params:
        settings=lambda wildcards: as_params(
            WindowSettings.from_config(CFG, subject=wildcards.subject)
        ),
        code=source_digest(
            "cortexplorer.decoding.parcels", "cortexplorer.decoding.stage"
        ),
    script:
        "../scripts/decoding_windows.py"


rule decoding_baseline:
    """Ridge from single-trial betas to the CLIP image embedding; test-stimulus predictions."""
    input:
        unpack(decoding_baseline_inputs),
    output:
        predictions=L.decoding_baseline("{subject}").predictions,
        provenance=L.decoding_baseline("{subject}").provenance,
    log:
        L.log("decoding_baseline_sub-{subject}"),
    benchmark:
        L.benchmark("decoding_baseline_sub-{subject}")
    conda:
        DATA_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        settings=as_params(BaselineSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.decoding.baseline",
            "cortexplorer.decoding.stage",
            "cortexplorer.encoder.ridge",
        ),
    script:
        "../scripts/decoding_baseline.py"


rule decoding_wave:
    """The WAVE-style decoder (whole brain, visual network alone, one network masked at a time) over seeds."""
    input:
        unpack(decoding_wave_inputs),
    output:
        predictions=L.decoding_wave("{subject}").predictions,
        model=L.decoding_wave("{subject}").model,
        training=L.decoding_wave("{subject}").training,
        provenance=L.decoding_wave("{subject}").provenance,
    log:
        L.log("decoding_wave_sub-{subject}"),
    benchmark:
        L.benchmark("decoding_wave_sub-{subject}")
    conda:
        MODELS_ENV
    # a small model: one thread (two spin-wait beside other jobs on 2 cores)
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(WaveSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.decoding.wave",
            "cortexplorer.decoding.stage",
            "cortexplorer.models.contrastive",
        ),
    script:
        "../scripts/decoding_wave.py"


rule decoding_images:
    """Images generated toward a few test stimuli's decoded embeddings (BrainDiVE's loop), and what they retrieve."""
    input:
        unpack(decoding_images_inputs),
    output:
        table=L.decoding_images("{subject}").table,
        grid=L.decoding_images("{subject}").grid,
        provenance=L.decoding_images("{subject}").provenance,
    log:
        L.log("decoding_images_sub-{subject}"),
    benchmark:
        L.benchmark("decoding_images_sub-{subject}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(ImagesSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.decoding.stage",
            "cortexplorer.braindive.guidance",
            "cortexplorer.models.diffusion",
        ),
    script:
        "../scripts/decoding_images.py"


rule decoding_evaluate:
    """Retrieval and semantic accuracy against chance with permutation tests, the network ablation, the figure."""
    input:
        unpack(decoding_evaluate_inputs),
    output:
        metrics=L.decoding_evaluate("{subject}").metrics,
        ablation=L.decoding_evaluate("{subject}").ablation,
        figure=L.decoding_evaluate("{subject}").figure,
        provenance=L.decoding_evaluate("{subject}").provenance,
    log:
        L.log("decoding_evaluate_sub-{subject}"),
    benchmark:
        L.benchmark("decoding_evaluate_sub-{subject}")
    conda:
        DATA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_params(EvaluateSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.decoding.evaluate", "cortexplorer.decoding.stage"
        ),
    script:
        "../scripts/decoding_evaluate.py"
