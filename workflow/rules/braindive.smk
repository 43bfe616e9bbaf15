# Stage `braindive`: images that drive a region (encoder-guided diffusion), and their evaluation.


rule braindive_unguided:
    """The same seeds without guidance: the baseline every region's images are compared with."""
    input:
        unpack(diffusion_inputs),
    output:
        images=directory(f"{RESULTS}/braindive/unguided/images"),
        table=f"{RESULTS}/braindive/unguided/seeds.tsv",
        grid=f"{RESULTS}/braindive/unguided/grid.png",
        provenance=f"{RESULTS}/braindive/unguided/provenance.json",
    log:
        f"{LOGS}/braindive_unguided.log",
    benchmark:
        f"{BENCH}/braindive_unguided.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=braindive_sampling(),
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.braindive",
            "cortexplorer.models.backbone",
            "cortexplorer.models.diffusion",
        ),
    script:
        "../scripts/braindive_unguided.py"


rule braindive:
    """Guided images for one region: sampled, re-ranked by predicted activation, top fraction kept."""
    input:
        unpack(braindive_inputs),
    output:
        images=directory(f"{RESULTS}/braindive/sub-{{subject}}/{{region}}/images"),
        scores=f"{RESULTS}/braindive/sub-{{subject}}/{{region}}/scores.tsv",
        grid=report(
            f"{RESULTS}/braindive/sub-{{subject}}/{{region}}/grid.png",
            caption="../report/braindive.rst",
            category="BrainDiVE",
            subcategory="sub-{subject}",
            labels={"region": "{region}"},
        ),
        provenance=f"{RESULTS}/braindive/sub-{{subject}}/{{region}}/provenance.json",
    log:
        f"{LOGS}/braindive_sub-{{subject}}_{{region}}.log",
    benchmark:
        f"{BENCH}/braindive_sub-{{subject}}_{{region}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings={
            **braindive_sampling(),
            "guidance_scale": CFG["braindive"]["guidance_scale"],
            "keep_fraction": CFG["braindive"]["keep_fraction"],
            "augmentations": CFG["braindive"]["augmentations"],
        },
        backbone=CFG["braindive"]["backbone"],
        spec=BACKBONES[CFG["braindive"]["backbone"]],
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.braindive",
            "cortexplorer.models.backbone",
            "cortexplorer.models.diffusion",
            "cortexplorer.encoder",
        ),
    script:
        "../scripts/braindive.py"


rule braindive_evaluate:
    """Kept images versus unguided samples and the top natural stimuli: activation and category shares."""
    input:
        unpack(braindive_evaluate_inputs),
    output:
        summary=report(
            f"{RESULTS}/evaluation/sub-{{subject}}/braindive/summary.tsv",
            caption="../report/braindive_evaluation.rst",
            category="BrainDiVE",
            subcategory="sub-{subject}",
            labels={"table": "evaluation"},
        ),
        images=f"{RESULTS}/evaluation/sub-{{subject}}/braindive/images.tsv",
        figure=f"{RESULTS}/evaluation/sub-{{subject}}/braindive/activation.png",
        grids=f"{RESULTS}/evaluation/sub-{{subject}}/braindive/grids.png",
        provenance=f"{RESULTS}/evaluation/sub-{{subject}}/braindive/provenance.json",
    log:
        f"{LOGS}/braindive_evaluate_sub-{{subject}}.log",
    benchmark:
        f"{BENCH}/braindive_evaluate_sub-{{subject}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        regions=CFG["braindive"]["regions"],
        backbone=CFG["braindive"]["backbone"],
        spec=BACKBONES[CFG["braindive"]["backbone"]],
        classifier=CFG["braindive"]["classifier"],
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.braindive",
            "cortexplorer.models.backbone",
            "cortexplorer.models.diffusion",
        ),
    script:
        "../scripts/braindive_evaluate.py"
