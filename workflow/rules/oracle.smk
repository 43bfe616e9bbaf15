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
        benchmark:
            f"{BENCH}/oracle.tsv"
        conda:
            ENV
        threads: workflow.cores
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            settings={
                **CFG["oracle"],
                "categories": CFG["stimuli"]["categories"],
                "image_size": CFG["stimuli"]["image_size"],
            },
        script:
            "../scripts/oracle.py"
