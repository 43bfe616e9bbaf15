# Stage `visual_search`: eccNET and IVSN on the six search-asymmetry experiments, against human RTs.


include: "functions/visual_search.smk"


rule visual_search_stimuli:
    """One experiment's search displays, targets and masks (scaled by visual_search.scale)."""
    output:
        stimuli=directory(L.visual_search_stimuli("{experiment}").stimuli),
    log:
        L.log("visual_search_stimuli_{experiment}"),
    benchmark:
        L.benchmark("visual_search_stimuli_{experiment}")
    wildcard_constraints:
        experiment="|".join(VISUAL_SEARCH["experiments"]),
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=lambda wildcards: as_params(
            StimuliSettings.from_config(CFG, experiment=wildcards.experiment)
        ),
        code=source_digest(
            "cortexplorer.visual_search.stimuli", "cortexplorer.visual_search.settings"
        ),
    script:
        "../scripts/visual_search_stimuli.py"


rule visual_search:
    """One model's scanpaths on one experiment's displays."""
    input:
        unpack(search_inputs),
    output:
        fixations=L.visual_search("{model}", "{experiment}").fixations,
        scanpaths=report(
            L.visual_search("{model}", "{experiment}").scanpaths,
            caption="../report/visual_search.rst",
            category="Visual search",
            subcategory="{model}",
            labels={"experiment": "{experiment}"},
        ),
        provenance=L.visual_search("{model}", "{experiment}").provenance,
    log:
        L.log("visual_search_{model}_{experiment}"),
    benchmark:
        L.benchmark("visual_search_{model}_{experiment}")
    wildcard_constraints:
        model="|".join(VISUAL_SEARCH["models"]),
        experiment="|".join(VISUAL_SEARCH["experiments"]),
    conda:
        MODELS_ENV
    # one thread: two threads are only 1.55x faster (benchmarks/visual_search_threads.py), so on 2 cores two
    # single-thread jobs side by side finish the model x experiment jobs sooner
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=lambda wildcards: (
            0 if wildcards.model in BASELINE_MODELS else CFG["gpus_per_job"]
        ),
    params:
        settings=lambda wildcards: as_params(
            SearchSettings.from_config(CFG, model=wildcards.model)
        ),
        code=source_digest("cortexplorer.visual_search", "cortexplorer.models.cnn"),
    script:
        "../scripts/visual_search.py"


rule visual_search_summary:
    """Reaction-time curves, slopes and asymmetry indices of every model against humans."""
    input:
        # model-major, then experiment: the order SummarySettings reads them in
        fixations=[
            L.visual_search(m, e).fixations
            for m in VISUAL_SEARCH["models"]
            for e in VISUAL_SEARCH["experiments"]
        ],
    output:
        rt=L.visual_search_summary().rt,
        asymmetry=L.visual_search_summary().asymmetry,
        curves=report(
            L.visual_search_summary().curves,
            caption="../report/visual_search.rst",
            category="Visual search",
            labels={"figure": "RT curves"},
        ),
        provenance=L.visual_search_summary().provenance,
    log:
        L.log("visual_search_summary"),
    benchmark:
        L.benchmark("visual_search_summary")
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=as_params(SummarySettings.from_config(CFG)),
        code=source_digest("cortexplorer.visual_search"),
    script:
        "../scripts/visual_search_summary.py"
