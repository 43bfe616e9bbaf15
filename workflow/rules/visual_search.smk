# Stage `visual_search`: eccNET and IVSN on the six search-asymmetry experiments, against human RTs.


rule visual_search_stimuli:
    """One experiment's search displays, targets and masks (scaled by visual_search.scale)."""
    output:
        stimuli=directory(f"{RESULTS}/visual_search/stimuli/{{experiment}}"),
    log:
        f"{LOGS}/visual_search_stimuli_{{experiment}}.log",
    wildcard_constraints:
        experiment="|".join(VS["experiments"]),
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        scale=VS["scale"],
        # "reference": the reference's trial counts
        trials_per_set_size=(
            None
            if VS["trials_per_set_size"] == "reference"
            else VS["trials_per_set_size"]
        ),
        seed=SEED,
        code=source_digest("cortexplorer.visual_search.stimuli"),
    script:
        "../scripts/visual_search_stimuli.py"


rule visual_search:
    """One model's scanpaths on one experiment's displays."""
    input:
        **network_inputs(VS["network"]),
        stimuli=f"{RESULTS}/visual_search/stimuli/{{experiment}}",
    output:
        fixations=f"{RESULTS}/visual_search/{{model}}/{{experiment}}/fixations.tsv",
        scanpaths=report(
            f"{RESULTS}/visual_search/{{model}}/{{experiment}}/scanpaths.png",
            caption="../report/visual_search.rst",
            category="Visual search",
            subcategory="{model}",
            labels={"experiment": "{experiment}"},
        ),
        provenance=f"{RESULTS}/visual_search/{{model}}/{{experiment}}/provenance.json",
    log:
        f"{LOGS}/visual_search_{{model}}_{{experiment}}.log",
    benchmark:
        f"{BENCH}/visual_search_{{model}}_{{experiment}}.tsv"
    wildcard_constraints:
        model="|".join(VS["models"]),
        experiment="|".join(VS["experiments"]),
    conda:
        MODELS_ENV
    # one thread: two threads are only 1.55x faster (benchmarks/visual_search_threads.py), so on 2 cores two
    # single-thread jobs side by side finish the model x experiment jobs sooner
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=CFG["gpus_per_job"],
    params:
        network={"name": VS["network"], "spec": NETWORKS[VS["network"]]},
        batch_size=VS["batch_size"],
        recognition_px=VS["recognition_px"],
        device=CFG["device"],
        seed=SEED,
        code=source_digest("cortexplorer.visual_search", "cortexplorer.models.cnn"),
    script:
        "../scripts/visual_search.py"


rule visual_search_summary:
    """Reaction-time curves, slopes and asymmetry indices of every model against humans."""
    input:
        fixations=expand(
            f"{RESULTS}/visual_search/{{model}}/{{experiment}}/fixations.tsv",
            model=VS["models"],
            experiment=VS["experiments"],
        ),
    output:
        rt=f"{RESULTS}/visual_search/rt.tsv",
        asymmetry=f"{RESULTS}/visual_search/asymmetry.tsv",
        curves=report(
            f"{RESULTS}/visual_search/curves.png",
            caption="../report/visual_search.rst",
            category="Visual search",
            labels={"figure": "RT curves"},
        ),
        provenance=f"{RESULTS}/visual_search/provenance.json",
    log:
        f"{LOGS}/visual_search_summary.log",
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=VS["models"],
        experiments=VS["experiments"],
        code=source_digest("cortexplorer.visual_search"),
    script:
        "../scripts/visual_search_summary.py"
