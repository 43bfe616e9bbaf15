# Stage `simulate` (demo only): a subject with planted regions, as BIDS + fMRIPrep derivatives.
from cortexplorer.simulate.settings import SimulationSettings

if MODE == "demo":

    rule simulate:
        """BOLD, events and confounds of the simulated subject, and its ground truth."""
        input:
            stimuli=L.stimuli().images,
            stimuli_table=L.stimuli().table,
            localizer=L.image_set("localizer").images,
            localizer_table=L.image_set("localizer").table,
            oracle=L.oracle().model,
        output:
            bids=directory(L.simulation().bids),
            truth=directory(L.simulation().truth),
        log:
            L.log("simulate"),
        benchmark:
            L.benchmark("simulate")
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            settings=as_params(SimulationSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.simulate",
                "cortexplorer.io",
                "cortexplorer.oracle",
                "cortexplorer.seeding",
            ),
        script:
            "../scripts/simulate.py"
