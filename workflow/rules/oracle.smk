# The demo's oracle classifier: trained once on the world, with its own seed.


if MODE == "demo":

    rule oracle:
        """Train the oracle classifier whose category evidence drives the true responses."""
        output:
            model=f"{RESULTS}/oracle/oracle.pt",
            metrics=report(
                f"{RESULTS}/oracle/metrics.tsv",
                caption="../report/oracle.rst",
                category="Demo world",
                labels={"table": "oracle accuracy"},
            ),
            provenance=f"{RESULTS}/oracle/provenance.json",
        log:
            f"{LOGS}/oracle.log",
        # No benchmark: Snakemake forbids it on cached rules (the log records time and memory).
        # Everything the result depends on is in params, code included: the between-workflow
        # cache hashes params and the script, not the modules the script imports.
        cache: "omit-software"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=30,
            gpu=CFG["gpus_per_job"],
        params:
            settings={
                **CFG["oracle"],
                "categories": CFG["stimuli"]["categories"],
                "image_size": CFG["stimuli"]["image_size"],
                "device": CFG["device"],
            },
            code=source_digest("cortexplorer.oracle", "cortexplorer.stimuli"),
        script:
            "../scripts/oracle.py"
