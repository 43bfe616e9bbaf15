# Stage `brainscuba`: a caption for every voxel, per-region caption semantics, caption-driven images.


include: "functions/brainscuba.smk"


if MODE == "demo":

    rule brainscuba_bank:
        """The demo's image bank: raw embeddings of the disjoint pool (never the fMRI stimuli)."""
        input:
            images=L.image_set("pool").images,
            table=L.image_set("pool").table,
            demo_clip=L.demo_clip().model,
        output:
            features=L.brainscuba_bank().features,
            provenance=L.brainscuba_bank().provenance,
        log:
            L.log("brainscuba_bank"),
        benchmark:
            L.benchmark("brainscuba_bank")
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(BankSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.features",
                "cortexplorer.models.backbone",
                "cortexplorer.brainscuba.stage",
            ),
        script:
            "../scripts/brainscuba_bank.py"


if BANK_SHARDS:

    rule brainscuba_bank_index:
        """Every bank image's SHA-256; duplicates (the bytes of an earlier image) are marked to be dropped."""
        input:
            images=bank_source_files,
        output:
            index=L.brainscuba_bank_build().index,
        log:
            L.log("brainscuba_bank_index"),
        benchmark:
            L.benchmark("brainscuba_bank_index")
        conda:
            DATA_ENV
        threads: 1
        resources:
            mem_mb=4000,
            runtime=240,
        params:
            settings=as_params(BankBuildSettings.from_config(CFG)),
            code=source_digest("cortexplorer.brainscuba.bank_build"),
        script:
            "../scripts/brainscuba_bank_index.py"

    rule brainscuba_bank_shard:
        """One input shard's images embedded with the captioned encoder's backbone (raw), corrupt ones skipped."""
        input:
            index=L.brainscuba_bank_build().index,
            images=bank_shard_files,
        output:
            shard=L.brainscuba_bank_shard("{shard}"),
        log:
            L.log("brainscuba_bank_shard_{shard}"),
        benchmark:
            L.benchmark("brainscuba_bank_shard_{shard}")
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=240,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(BankBuildSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.brainscuba.bank_build", "cortexplorer.models.backbone"
            ),
        script:
            "../scripts/brainscuba_bank_shard.py"

    rule brainscuba_bank_manifest:
        """The bank's manifest (the shards' paths, the format brainscuba.bank reads), written last, with totals."""
        input:
            shards=brainscuba_bank(),
        output:
            manifest=L.brainscuba_bank_build().manifest,
            provenance=L.brainscuba_bank_build().provenance,
        log:
            L.log("brainscuba_bank_manifest"),
        benchmark:
            L.benchmark("brainscuba_bank_manifest")
        conda:
            DATA_ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            settings=as_params(BankBuildSettings.from_config(CFG)),
            code=source_digest("cortexplorer.brainscuba.bank_build"),
        script:
            "../scripts/brainscuba_bank_manifest.py"


rule brainscuba_project:
    """Soft convex projection of each fitted voxel's encoder weights onto the image bank (streamed, per repeat)."""
    input:
        encoder=brainscuba_encoder,
        metrics=brainscuba_encoder_metrics,
        bank=brainscuba_bank(),
    output:
        projection=L.brainscuba_projection("{subject}").projection,
        provenance=L.brainscuba_projection("{subject}").provenance,
    log:
        L.log("brainscuba_project_sub-{subject}"),
    benchmark:
        L.benchmark("brainscuba_project_sub-{subject}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(ProjectionSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.brainscuba.projection", "cortexplorer.brainscuba.stage"
        ),
    script:
        "../scripts/brainscuba_project.py"


rule brainscuba_captions:
    """One caption per voxel and repeat, decoded from its projected embedding (beam search)."""
    input:
        unpack(brainscuba_caption_inputs),
    output:
        captions=L.brainscuba_captions("{subject}").captions,
        provenance=L.brainscuba_captions("{subject}").provenance,
    log:
        L.log("brainscuba_captions_sub-{subject}"),
    benchmark:
        L.benchmark("brainscuba_captions_sub-{subject}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(CaptionSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.brainscuba.captioner", "cortexplorer.brainscuba.stage"
        ),
    script:
        "../scripts/brainscuba_captions.py"


rule brainscuba_semantics:
    """Nouns and categories of the captions: per-region shares, top nouns, examples, a surface map."""
    input:
        unpack(brainscuba_region_inputs),
        captions=L.brainscuba_captions("{subject}").captions,
    output:
        regions=report(
            L.brainscuba_semantics("{subject}").regions,
            caption="../report/brainscuba.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"table": "caption categories per region"},
        ),
        nouns=L.brainscuba_semantics("{subject}").nouns,
        examples=L.brainscuba_semantics("{subject}").examples,
        category_map=report(
            L.brainscuba_semantics("{subject}").category_map,
            caption="../report/brainscuba.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"figure": "caption categories on fsaverage5"},
        ),
        provenance=L.brainscuba_semantics("{subject}").provenance,
    log:
        L.log("brainscuba_semantics_sub-{subject}"),
    benchmark:
        L.benchmark("brainscuba_semantics_sub-{subject}")
    conda:
        DATA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_params(SemanticsSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.brainscuba.semantics", "cortexplorer.brainscuba.stage"
        ),
    script:
        "../scripts/brainscuba_semantics.py"


rule brainscuba_images:
    """Images from each region's most typical captions, scored like BrainDiVE's against unguided samples."""
    input:
        unpack(brainscuba_image_inputs),
    output:
        images=directory(L.brainscuba_images("{subject}").images),
        summary=report(
            L.brainscuba_images("{subject}").summary,
            caption="../report/brainscuba_images.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"table": "caption-driven images"},
        ),
        table=L.brainscuba_images("{subject}").table,
        grid=report(
            L.brainscuba_images("{subject}").grid,
            caption="../report/brainscuba_images.rst",
            category="BrainSCUBA",
            subcategory="sub-{subject}",
            labels={"figure": "caption-driven images"},
        ),
        provenance=L.brainscuba_images("{subject}").provenance,
    log:
        L.log("brainscuba_images_sub-{subject}"),
    benchmark:
        L.benchmark("brainscuba_images_sub-{subject}")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(CaptionImageSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.brainscuba.stage",
            "cortexplorer.braindive",
            "cortexplorer.models.diffusion",
            "cortexplorer.models.identity",
        ),
    script:
        "../scripts/brainscuba_images.py"
