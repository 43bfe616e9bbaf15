# Models the demo trains itself (cached between workflows: they depend only on their params).


if MODE == "demo":

    rule demo_clip:
        """Train the demo's small open_clip model on the disjoint pool's image-caption pairs."""
        input:
            images=f"{RESULTS}/pool/images.h5",
            table=f"{RESULTS}/pool/stimuli.tsv",
        output:
            model=f"{RESULTS}/models/demo_clip/model.pt",
            metrics=report(
                f"{RESULTS}/models/demo_clip/retrieval.tsv",
                caption="../report/demo_clip.rst",
                category="Models",
                labels={"table": "demo CLIP retrieval"},
            ),
            curve=f"{RESULTS}/models/demo_clip/loss.tsv",
            provenance=f"{RESULTS}/models/demo_clip/provenance.json",
        log:
            f"{LOGS}/demo_clip.log",
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings={**CFG["demo_clip"], "device": CFG["device"]},
            seed=SEED,
            code=source_digest(
                "cortexplorer.models.backbone", "cortexplorer.models.demo_clip"
            ),
        script:
            "../scripts/demo_clip.py"

    rule demo_diffusion:
        """Train the demo's small pixel-space diffusion model on the disjoint image pool."""
        input:
            images=f"{RESULTS}/pool/images.h5",
            table=f"{RESULTS}/pool/stimuli.tsv",
        output:
            model=f"{RESULTS}/models/demo_diffusion/model.pt",
            curve=f"{RESULTS}/models/demo_diffusion/loss.tsv",
            samples=report(
                f"{RESULTS}/models/demo_diffusion/samples.png",
                caption="../report/demo_diffusion.rst",
                category="Models",
                labels={"figure": "demo diffusion samples"},
            ),
            provenance=f"{RESULTS}/models/demo_diffusion/provenance.json",
        log:
            f"{LOGS}/demo_diffusion.log",
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=120,
            gpu=CFG["gpus_per_job"],
        params:
            settings={**CFG["demo_diffusion"], "device": CFG["device"]},
            seed=SEED,
            code=source_digest(
                "cortexplorer.models.diffusion",
                "cortexplorer.models.demo_diffusion",
                "cortexplorer.braindive.guidance",
            ),
        script:
            "../scripts/demo_diffusion.py"

    rule demo_cnn:
        """Train the demo's VGG16-shaped classifier on the disjoint pool (backbone of visual search and triplets)."""
        input:
            images=f"{RESULTS}/pool/images.h5",
            table=f"{RESULTS}/pool/stimuli.tsv",
        output:
            model=f"{RESULTS}/models/demo_cnn/model.pt",
            curve=f"{RESULTS}/models/demo_cnn/curve.tsv",
            provenance=f"{RESULTS}/models/demo_cnn/provenance.json",
        log:
            f"{LOGS}/demo_cnn.log",
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings={**CFG["demo_cnn"], "device": CFG["device"]},
            seed=SEED,
            code=source_digest(
                "cortexplorer.models.cnn", "cortexplorer.models.demo_cnn"
            ),
        script:
            "../scripts/demo_cnn.py"

    rule demo_captioner:
        """Train the demo's caption decoder (MLP prefix + small GPT-2) on the pool's raw CLIP embeddings and captions."""
        input:
            bank=f"{RESULTS}/brainscuba/bank/pool.h5",
            table=f"{RESULTS}/pool/stimuli.tsv",
        output:
            model=f"{RESULTS}/models/demo_captioner/model.pt",
            curve=f"{RESULTS}/models/demo_captioner/curve.tsv",
            provenance=f"{RESULTS}/models/demo_captioner/provenance.json",
        log:
            f"{LOGS}/demo_captioner.log",
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings={**CFG["demo_captioner"], "device": CFG["device"]},
            seed=SEED,
            code=source_digest("cortexplorer.brainscuba.captioner"),
        script:
            "../scripts/demo_captioner.py"
