# Stage `scanpaths`: shelf displays, a planted object-level observer, OAT, and its evaluation (issue 22).


include: "functions/scanpaths.smk"


rule scanpath_displays:
    """Shelf layouts of the stimulus images, one target per trial, unseen-layout and unseen-target splits."""
    input:
        images=L.stimuli().images,
        table=L.stimuli().table,
    output:
        layouts=DISPLAYS.layouts,
        trials=DISPLAYS.trials,
        displays=DISPLAYS.displays,
        provenance=DISPLAYS.provenance,
    log:
        L.log("scanpath_displays"),
    benchmark:
        L.benchmark("scanpath_displays")
    conda:
        DATA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_params(DisplaySettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.scanpaths.displays", "cortexplorer.scanpaths.stage"
        ),
    script:
        "../scripts/scanpath_displays.py"


rule scanpath_observe:
    """The planted observer's scanpaths on every trial."""
    input:
        layouts=DISPLAYS.layouts,
        trials=DISPLAYS.trials,
        displays=DISPLAYS.displays,
    output:
        scanpaths=L.scanpath_observe().scanpaths,
        provenance=L.scanpath_observe().provenance,
    log:
        L.log("scanpath_observe"),
    benchmark:
        L.benchmark("scanpath_observe")
    conda:
        DATA_ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_params(ObserveSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.scanpaths.observer", "cortexplorer.scanpaths.stage"
        ),
    script:
        "../scripts/scanpath_observe.py"


rule scanpath_train:
    """OAT trained on the training split's scanpaths, early-stopped on the validation split's NLL."""
    input:
        layouts=DISPLAYS.layouts,
        trials=DISPLAYS.trials,
        displays=DISPLAYS.displays,
        scanpaths=L.scanpath_observe().scanpaths,
    output:
        model=L.scanpath_train().model,
        training=L.scanpath_train().training,
        provenance=L.scanpath_train().provenance,
    log:
        L.log("scanpath_train"),
    benchmark:
        L.benchmark("scanpath_train")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=CFG["gpus_per_job"],
    params:
        settings=as_params(TrainSettings.from_config(CFG)),
        code=source_digest("cortexplorer.scanpaths.oat", "cortexplorer.scanpaths.stage"),
    script:
        "../scripts/scanpath_train.py"


rule scanpath_pixel_search:
    """A pixel-level searcher of visual_search (eccnet, ivsn) on held-out shelves, fixations mapped to objects."""
    input:
        unpack(pixel_search_inputs),
    output:
        scanpaths=L.scanpath_pixel("{model}").scanpaths,
        provenance=L.scanpath_pixel("{model}").provenance,
    log:
        L.log("scanpath_pixel_search_{model}"),
    benchmark:
        L.benchmark("scanpath_pixel_search_{model}")
    wildcard_constraints:
        model="eccnet|ivsn",
    conda:
        MODELS_ENV
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=CFG["gpus_per_job"],
    params:
        settings=lambda wildcards: as_params(
            PixelSearchSettings.from_config(CFG, model=wildcards.model)
        ),
        code=source_digest(
            "cortexplorer.scanpaths.pixel_models",
            "cortexplorer.scanpaths.stage",
            "cortexplorer.visual_search",
            "cortexplorer.models.cnn",
        ),
    script:
        "../scripts/scanpath_pixel_search.py"


rule scanpath_evaluate:
    """OAT, the baselines and the planted observer's own samples on the held-out splits."""
    input:
        layouts=DISPLAYS.layouts,
        trials=DISPLAYS.trials,
        displays=DISPLAYS.displays,
        scanpaths=L.scanpath_observe().scanpaths,
        model=L.scanpath_train().model,
        pixel=[L.scanpath_pixel(m).scanpaths for m in SCANPATHS_CFG["pixel_models"]],
    output:
        metrics=L.scanpath_evaluate().metrics,
        curves=L.scanpath_evaluate().curves,
        figure=report(
            L.scanpath_evaluate().figure,
            caption="../report/scanpaths.rst",
            category="Scanpaths",
            labels={"figure": "OAT against the planted observer"},
        ),
        provenance=L.scanpath_evaluate().provenance,
    log:
        L.log("scanpath_evaluate"),
    benchmark:
        L.benchmark("scanpath_evaluate")
    conda:
        MODELS_ENV
    threads: workflow.cores
    resources:
        mem_mb=6000,
        runtime=60,
    params:
        settings=as_params(EvaluateSettings.from_config(CFG)),
        code=source_digest(
            "cortexplorer.scanpaths",
            "cortexplorer.visual_search.metrics",
        ),
    script:
        "../scripts/scanpath_evaluate.py"
