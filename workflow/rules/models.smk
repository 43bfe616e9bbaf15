# Models the demo trains itself (cached between workflows: they depend only on their params).


include: "functions/models.smk"


if MODE == "demo":

    rule demo_clip:
        """Train the demo's small open_clip model on the disjoint pool's image-caption pairs."""
        input:
            images=DEMO_POOL.images,
            table=DEMO_POOL.table,
        output:
            model=L.demo_clip().model,
            retrieval=report(
                L.demo_clip().retrieval,
                caption="../report/demo_clip.rst",
                category="Models",
                labels={"table": "demo CLIP retrieval"},
            ),
            curve=L.demo_clip().curve,
            provenance=L.demo_clip().provenance,
        log:
            L.log("demo_clip"),
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(DemoClipSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.models.backbone",
                "cortexplorer.models.demo_clip",
                "cortexplorer.models.training",
            ),
        script:
            "../scripts/demo_clip.py"

    rule demo_diffusion:
        """Train the demo's small pixel-space diffusion model on the disjoint image pool."""
        input:
            images=DEMO_POOL.images,
            table=DEMO_POOL.table,
        output:
            model=L.demo_diffusion().model,
            curve=L.demo_diffusion().curve,
            provenance=L.demo_diffusion().provenance,
        log:
            L.log("demo_diffusion"),
        cache: "omit-software"
        # the demo's longest job and the head of the synthesis chain: started first, so that with one thread per
        # job (--max-threads 1) the other stages run beside it
        priority: 10
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=120,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(DemoDiffusionSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.models.diffusion",
                "cortexplorer.models.demo_diffusion",
                "cortexplorer.models.training",
            ),
        script:
            "../scripts/demo_diffusion.py"

    rule demo_prior:
        """Unguided samples of the demo diffusion model judged against fresh images of the world."""
        input:
            model=L.demo_diffusion().model,
            oracle=L.oracle().model,
            demo_cnn=L.demo_cnn().model,
        output:
            quality=L.demo_prior().quality,
            categories=L.demo_prior().categories,
            samples=report(
                L.demo_prior().samples,
                caption="../report/demo_diffusion.rst",
                category="Models",
                labels={"figure": "demo diffusion samples"},
            ),
            provenance=L.demo_prior().provenance,
        log:
            L.log("demo_prior"),
        benchmark:
            L.benchmark("demo_prior")
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(PriorJudgeSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.models.prior_quality",
                "cortexplorer.models.diffusion",
                "cortexplorer.braindive.guidance",
                "cortexplorer.models.cnn",
                "cortexplorer.oracle.classifier",
                "cortexplorer.stimuli",
            ),
        script:
            "../scripts/demo_prior.py"

    rule demo_cnn:
        """Train the demo's VGG16-shaped classifier on the disjoint pool (backbone of visual search and triplets)."""
        input:
            images=DEMO_POOL.images,
            table=DEMO_POOL.table,
        output:
            model=L.demo_cnn().model,
            curve=L.demo_cnn().curve,
            provenance=L.demo_cnn().provenance,
        log:
            L.log("demo_cnn"),
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(DemoCnnSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.models.cnn",
                "cortexplorer.models.demo_cnn",
                "cortexplorer.models.training",
            ),
        script:
            "../scripts/demo_cnn.py"

    rule demo_captioner:
        """Train the demo's caption decoder (MLP prefix + small GPT-2) on the pool's raw CLIP embeddings and captions."""
        input:
            bank=L.brainscuba_bank().features,
            table=DEMO_POOL.table,
        output:
            model=L.demo_captioner().model,
            curve=L.demo_captioner().curve,
            provenance=L.demo_captioner().provenance,
        log:
            L.log("demo_captioner"),
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(DemoCaptionerSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.brainscuba.captioner",
                "cortexplorer.models.demo_captioner",
                "cortexplorer.models.training",
            ),
        script:
            "../scripts/demo_captioner.py"
