# Stage `triplets`: triplets that decouple low- from high-level similarity, choices, choice models,
# and odd-one-out embeddings (SPoSE).


if TRIPLETS["images"] not in ("stimuli", "pool"):

    rule triplet_images:
        """A folder of images (triplets.images), resized into the image-set contract."""
        input:
            folder=TRIPLETS["images"],
        output:
            images=f"{RESULTS}/triplets/images/images.h5",
            table=f"{RESULTS}/triplets/images/stimuli.tsv",
            provenance=f"{RESULTS}/triplets/images/provenance.json",
        log:
            f"{LOGS}/triplet_images.log",
        conda:
            DATA_ENV
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            image_size=CFG["stimuli"]["image_size"],
        script:
            "../scripts/stimuli_folder.py"


rule triplet_search:
    """Triplets whose similarity differences in a low and a high layer hit a grid independently."""
    input:
        unpack(triplet_inputs),
    output:
        triplets=f"{RESULTS}/triplets/search/triplets.tsv",
        coverage=f"{RESULTS}/triplets/search/coverage.tsv",
        figure=report(
            f"{RESULTS}/triplets/search/search.png",
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "decorrelated triplets"},
        ),
        provenance=f"{RESULTS}/triplets/search/provenance.json",
    log:
        f"{LOGS}/triplet_search.log",
    benchmark:
        f"{BENCH}/triplet_search.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        network=triplet_network(),
        settings={
            k: TRIPLETS[k]
            for k in (
                "low_layer",
                "high_layer",
                "max_images",
                "max_triplets",
                "max_activation_gb",
            )
        },
        grid={k: TRIPLETS[k] for k in ("n_bins", "bin_size", "tolerance", "n_loops")},
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.triplets.search",
            "cortexplorer.triplets.stage",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/triplet_search.py"


rule triplet_choices:
    """Human choices (triplets.choices), checked against the images, or simulated observers."""
    input:
        **({"choices": TRIPLETS["choices"]} if TRIPLETS["choices"] else {}),
        triplets=f"{RESULTS}/triplets/search/triplets.tsv",
        table=triplet_image_files()["table"],
    output:
        choices=f"{RESULTS}/triplets/choices/choices.tsv",
        provenance=f"{RESULTS}/triplets/choices/provenance.json",
    log:
        f"{LOGS}/triplet_choices.log",
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        observers=TRIPLETS["observers"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.triplets.choices", "cortexplorer.triplets.stage"
        ),
    script:
        "../scripts/triplet_choices.py"


rule triplet_fit:
    """Choice model on the two layers (pooled and per subject), each layer's predictivity, noise ceiling."""
    input:
        unpack(triplet_inputs),
        choices=f"{RESULTS}/triplets/choices/choices.tsv",
    output:
        weights=f"{RESULTS}/triplets/fit/weights.tsv",
        predictivity=f"{RESULTS}/triplets/fit/predictivity.tsv",
        surface=report(
            f"{RESULTS}/triplets/fit/surface.png",
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "choice probability surface"},
        ),
        layers=report(
            f"{RESULTS}/triplets/fit/layers.png",
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "layer predictivity"},
        ),
        provenance=f"{RESULTS}/triplets/fit/provenance.json",
    log:
        f"{LOGS}/triplet_fit.log",
    benchmark:
        f"{BENCH}/triplet_fit.tsv"
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        network=triplet_network(),
        settings={
            k: TRIPLETS[k]
            for k in (
                "low_layer",
                "high_layer",
                "predictivity_layers",
                "max_images",
                "cv_folds",
                "max_activation_gb",
            )
        },
        device=CFG["device"],
        seed=SEED,
        code=source_digest(
            "cortexplorer.triplets.choices",
            "cortexplorer.triplets.stage",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/triplet_fit.py"


if ODD_ONE_OUT:

    rule odd_one_out:
        """SPoSE embedding from odd-one-out triplets (THINGS-format file, or simulated in the demo)."""
        input:
            **(
                {"triplets": OOO["triplets"]}
                if OOO["triplets"]
                else {
                    "images": f"{RESULTS}/stimuli/images.h5",
                    "table": f"{RESULTS}/stimuli/stimuli.tsv",
                }
            ),
            **({"labels": OOO["labels"]} if OOO["labels"] else {}),
        output:
            embedding=f"{RESULTS}/triplets/odd_one_out/embedding.tsv",
            dimensions=f"{RESULTS}/triplets/odd_one_out/dimensions.tsv",
            figure=report(
                f"{RESULTS}/triplets/odd_one_out/dimensions.png",
                caption="../report/odd_one_out.rst",
                category="Triplets",
                labels={"figure": "odd-one-out dimensions"},
            ),
            provenance=f"{RESULTS}/triplets/odd_one_out/provenance.json",
        log:
            f"{LOGS}/odd_one_out.log",
        benchmark:
            f"{BENCH}/odd_one_out.tsv"
        conda:
            MODELS_ENV
        # one thread: small minibatches gain nothing from two, and lose 15-70x when another job holds a core
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings={k: v for k, v in OOO.items() if k not in ("triplets", "labels")},
            device=CFG["device"],
            seed=SEED,
            code=source_digest(
                "cortexplorer.triplets.spose", "cortexplorer.triplets.stage"
            ),
        script:
            "../scripts/odd_one_out.py"
