# Stage `triplets`: triplets that decouple low- from high-level similarity, choices, choice models,


include: "functions/triplets.smk"


if TRIPLETS["images"] not in ("stimuli", "pool"):

    rule triplet_images:
        """A folder of images (triplets.images), resized into the image-set contract."""
        input:
            folder=TRIPLETS["images"],
            files=folder_files(TRIPLETS["images"]),
        output:
            images=L.triplet_images().images,
            table=L.triplet_images().table,
            provenance=L.triplet_images().provenance,
        log:
            L.log("triplet_images"),
        benchmark:
            L.benchmark("triplet_images")
        conda:
            DATA_ENV
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            settings=as_params(FolderStimuliSettings.from_config(CFG)),
            code=source_digest("cortexplorer.stimuli", "cortexplorer.io"),
        script:
            "../scripts/stimuli_folder.py"


rule triplet_search:
    """Triplets whose similarity differences in a low and a high layer hit a grid independently."""
    input:
        unpack(triplet_inputs),
    output:
        triplets=L.triplet_search().triplets,
        coverage=L.triplet_search().coverage,
        figure=report(
            L.triplet_search().figure,
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "decorrelated triplets"},
        ),
        provenance=L.triplet_search().provenance,
    log:
        L.log("triplet_search"),
    benchmark:
        L.benchmark("triplet_search")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(TripletSearchSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.triplets.search",
            "cortexplorer.triplets.settings",
            "cortexplorer.triplets.stage",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/triplet_search.py"


rule triplet_choices:
    """Human choices (triplets.choices), checked against the images, or simulated observers."""
    input:
        **({"choices": TRIPLETS["choices"]} if TRIPLETS["choices"] else {}),
        triplets=L.triplet_search().triplets,
        table=triplet_image_files()["table"],
    output:
        choices=L.triplet_choices().choices,
        provenance=L.triplet_choices().provenance,
    log:
        L.log("triplet_choices"),
    benchmark:
        L.benchmark("triplet_choices")
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=as_params(TripletChoicesSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.triplets.choices",
            "cortexplorer.triplets.settings",
            "cortexplorer.triplets.stage",
        ),
    script:
        "../scripts/triplet_choices.py"


rule triplet_fit:
    """Choice model on the two layers (pooled and per subject), each layer's predictivity, noise ceiling."""
    input:
        unpack(triplet_inputs),
        choices=L.triplet_choices().choices,
    output:
        weights=L.triplet_fit().weights,
        predictivity=L.triplet_fit().predictivity,
        surface=report(
            L.triplet_fit().surface,
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "choice probability surface"},
        ),
        layers=report(
            L.triplet_fit().layers,
            caption="../report/triplets.rst",
            category="Triplets",
            labels={"figure": "layer predictivity"},
        ),
        provenance=L.triplet_fit().provenance,
    log:
        L.log("triplet_fit"),
    benchmark:
        L.benchmark("triplet_fit")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(TripletFitSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.triplets.choices",
            "cortexplorer.triplets.settings",
            "cortexplorer.triplets.stage",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/triplet_fit.py"


if ODD_ONE_OUT:

    rule odd_one_out:
        """SPoSE embedding from odd-one-out triplets (THINGS-format file, or simulated in the demo)."""
        input:
            **odd_one_out_inputs(),
        output:
            embedding=L.odd_one_out().embedding,
            dimensions=L.odd_one_out().dimensions,
            figure=report(
                L.odd_one_out().figure,
                caption="../report/odd_one_out.rst",
                category="Triplets",
                labels={"figure": "odd-one-out dimensions"},
            ),
            provenance=L.odd_one_out().provenance,
        log:
            L.log("odd_one_out"),
        benchmark:
            L.benchmark("odd_one_out")
        conda:
            MODELS_ENV
        # one thread: small minibatches gain nothing from two, and lose 15-70x when another job holds a core
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=CFG["gpus_per_job"],
        params:
            settings=as_params(OddOneOutSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.triplets.settings",
                "cortexplorer.triplets.spose",
                "cortexplorer.triplets.stage",
            ),
        script:
            "../scripts/odd_one_out.py"
