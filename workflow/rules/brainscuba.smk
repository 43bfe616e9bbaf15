# Stage `brainscuba`: a caption for every voxel, per-region caption semantics, caption-driven images.


if MODE == "demo":

    rule brainscuba_bank:
        """The demo's image bank: raw embeddings of the disjoint pool (never the fMRI stimuli)."""
        input:
            images=f"{RESULTS}/pool/images.h5",
            table=f"{RESULTS}/pool/stimuli.tsv",
            demo_clip=f"{RESULTS}/models/demo_clip/model.pt",
        output:
            features=f"{RESULTS}/brainscuba/bank/pool.h5",
            provenance=f"{RESULTS}/brainscuba/bank/pool.provenance.json",
        log:
            f"{LOGS}/brainscuba_bank.log",
        benchmark:
            f"{BENCH}/brainscuba_bank.tsv"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=CFG["gpus_per_job"],
        params:
            backbone=BS["backbone"],
            spec=BACKBONES[BS["backbone"]],
            batch_size=CFG["features"]["batch_size"],
            device=CFG["device"],
            seed=SEED,
            code=source_digest("cortexplorer.features", "cortexplorer.models.backbone"),
        script:
            "../scripts/brainscuba_bank.py"


rule brainscuba_project:
    """Soft convex projection of every voxel's encoder weights onto the image bank (streamed, per repeat)."""
    input:
        encoder=brainscuba_encoder,
        bank=brainscuba_bank(),
    output:
        projection=f"{RESULTS}/brainscuba/sub-{{subject}}/projection.h5",
        provenance=f"{RESULTS}/brainscuba/sub-{{subject}}/projection.provenance.json",
    log:
        f"{LOGS}/brainscuba_project_sub-{{subject}}.log",
    benchmark:
        f"{BENCH}/brainscuba_project_sub-{{subject}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings={
            k: BS[k]
            for k in (
                "temperature",
                "repeats",
                "sample_size",
                "chunk_rows",
                "bank_dataset",
            )
        },
        device=CFG["device"],
        seed=SEED,
        code=source_digest("cortexplorer.brainscuba.projection"),
    script:
        "../scripts/brainscuba_project.py"


rule brainscuba_captions:
    """One caption per voxel and repeat, decoded from its projected embedding (beam search)."""
    input:
        unpack(brainscuba_caption_inputs),
    output:
        captions=f"{RESULTS}/brainscuba/sub-{{subject}}/captions.tsv",
        provenance=f"{RESULTS}/brainscuba/sub-{{subject}}/captions.provenance.json",
    log:
        f"{LOGS}/brainscuba_captions_sub-{{subject}}.log",
    benchmark:
        f"{BENCH}/brainscuba_captions_sub-{{subject}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        captioner=BS["captioner"],
        regions=BS["regions"],
        settings={k: BS[k] for k in ("beam_size", "max_length", "batch_size")},
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.brainscuba.captioner", "cortexplorer.brainscuba.stage"
        ),
    script:
        "../scripts/brainscuba_captions.py"


rule brainscuba_semantics:
    """Nouns and categories of the captions: per-region shares, top nouns, examples, a surface map."""
    input:
        unpack(brainscuba_region_inputs),
        captions=f"{RESULTS}/brainscuba/sub-{{subject}}/captions.tsv",
    output:
        regions=report(
            f"{RESULTS}/brainscuba/sub-{{subject}}/semantics/regions.tsv",
            caption="../report/brainscuba.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"table": "caption categories per region"},
        ),
        nouns=f"{RESULTS}/brainscuba/sub-{{subject}}/semantics/nouns.tsv",
        examples=f"{RESULTS}/brainscuba/sub-{{subject}}/semantics/examples.tsv",
        map=report(
            f"{RESULTS}/brainscuba/sub-{{subject}}/semantics/category_map.png",
            caption="../report/brainscuba.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"figure": "caption categories on fsaverage5"},
        ),
        provenance=f"{RESULTS}/brainscuba/sub-{{subject}}/semantics/provenance.json",
    log:
        f"{LOGS}/brainscuba_semantics_sub-{{subject}}.log",
    benchmark:
        f"{BENCH}/brainscuba_semantics_sub-{{subject}}.tsv"
    conda:
        DATA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        regions=BS["regions"],
        lexicon=BS["lexicon"],
        top_k=BS["top_nouns"],
        on_template=MODE != "nsd",
        seed=SEED,
        code=source_digest("cortexplorer.brainscuba.semantics"),
    script:
        "../scripts/brainscuba_semantics.py"


rule brainscuba_images:
    """Images from each region's most typical captions, scored like BrainDiVE's against unguided samples."""
    input:
        unpack(brainscuba_image_inputs),
    output:
        images=directory(f"{RESULTS}/brainscuba/sub-{{subject}}/images"),
        summary=report(
            f"{RESULTS}/evaluation/sub-{{subject}}/brainscuba/summary.tsv",
            caption="../report/brainscuba_images.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"table": "caption-driven images"},
        ),
        table=f"{RESULTS}/evaluation/sub-{{subject}}/brainscuba/images.tsv",
        grid=report(
            f"{RESULTS}/evaluation/sub-{{subject}}/brainscuba/grid.png",
            caption="../report/brainscuba_images.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"figure": "caption-driven images"},
        ),
        provenance=f"{RESULTS}/evaluation/sub-{{subject}}/brainscuba/provenance.json",
    log:
        f"{LOGS}/brainscuba_images_sub-{{subject}}.log",
    benchmark:
        f"{BENCH}/brainscuba_images_sub-{{subject}}.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        regions=BS["regions"],
        backbone=BS["backbone"],
        spec=BACKBONES[BS["backbone"]],
        diffusion=CFG["braindive"]["diffusion"],
        classifier=CFG["braindive"]["classifier"],
        settings={
            **BS["images"],
            "first_seed": CFG["braindive"]["first_seed"],
            "batch_size": CFG["braindive"]["batch_size"],
        },
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.brainscuba.stage",
            "cortexplorer.braindive.guidance",
            "cortexplorer.models.diffusion",
        ),
    script:
        "../scripts/brainscuba_images.py"
