# Stage `braindive`: images that drive a region (encoder-guided diffusion), and their evaluation.


include: "functions/braindive.smk"


rule braindive_unguided:
    """The same seeds without guidance: the baseline every region's images are compared with."""
    input:
        unpack(diffusion_inputs),
    output:
        images=directory(L.braindive_unguided().images),
        table=L.braindive_unguided().table,
        grid=L.braindive_unguided().grid,
        provenance=L.braindive_unguided().provenance,
    log:
        L.log("braindive_unguided"),
    benchmark:
        L.benchmark("braindive_unguided")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(SamplingSettings.from_config(CFG)),
        code=source_digest(*BRAINDIVE_CODE),
    script:
        "../scripts/braindive_unguided.py"


rule braindive:
    """Guided images for one region: sampled, re-ranked by predicted activation, top fraction kept."""
    input:
        unpack(braindive_inputs),
    output:
        images=directory(L.braindive("{subject}", "{region}").images),
        scores=L.braindive("{subject}", "{region}").scores,
        grid=report(
            L.braindive("{subject}", "{region}").grid,
            caption="../report/braindive.rst",
            category="BrainDiVE",
            subcategory="sub-{subject}",
            labels={"region": "{region}"},
        ),
        provenance=L.braindive("{subject}", "{region}").provenance,
    log:
        L.log("braindive_sub-{subject}_{region}"),
    benchmark:
        L.benchmark("braindive_sub-{subject}_{region}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=lambda wc: as_params(
            BrainDiVESettings.from_config(CFG, region=wc.region)
        ),
        code=source_digest(*BRAINDIVE_CODE, "cortexplorer.encoder"),
    script:
        "../scripts/braindive.py"


rule braindive_evaluate:
    """Kept images versus unguided samples and the top natural stimuli: activation and category shares."""
    input:
        unpack(braindive_evaluate_inputs),
    output:
        summary=report(
            L.braindive_evaluation("{subject}").summary,
            caption="../report/braindive_evaluation.rst",
            category="BrainDiVE",
            subcategory="sub-{subject}",
            labels={"table": "evaluation"},
        ),
        images=L.braindive_evaluation("{subject}").images,
        figure=L.braindive_evaluation("{subject}").figure,
        grids=L.braindive_evaluation("{subject}").grids,
        provenance=L.braindive_evaluation("{subject}").provenance,
    log:
        L.log("braindive_evaluate_sub-{subject}"),
    benchmark:
        L.benchmark("braindive_evaluate_sub-{subject}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(EvaluationSettings.from_config(CFG)),
        code=source_digest(
            *BRAINDIVE_CODE,
            "cortexplorer.models.prior_quality",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/braindive_evaluate.py"
