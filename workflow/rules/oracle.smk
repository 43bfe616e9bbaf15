# The demo's oracle classifier: trained once on the world, with its own seed.
from cortexplorer.oracle.settings import OracleSettings

if MODE == "demo":

    rule oracle:
        """Train the oracle classifier whose category evidence drives the true responses."""
        output:
            model=L.oracle().model,
            metrics=report(
                L.oracle().metrics,
                caption="../report/oracle.rst",
                category="Demo world",
                labels={"table": "oracle accuracy"},
            ),
            provenance=L.oracle().provenance,
        log:
            L.log("oracle"),
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
            settings=as_params(OracleSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.oracle",
                "cortexplorer.stimuli",
                "cortexplorer.models.training",
            ),
        script:
            "../scripts/oracle.py"
