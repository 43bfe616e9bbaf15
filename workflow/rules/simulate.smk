# Stage `simulate` (demo only): participants with planted regions, as one BIDS dataset + fMRIPrep derivatives.
from cortexplorer.simulate.settings import SimulatedDatasetSettings, SimulationSettings

if MODE == "demo":

    rule simulate:
        """BOLD, events and confounds of one simulated participant, and its ground truth."""
        input:
            stimuli=L.stimuli().images,
            stimuli_table=L.stimuli().table,
            localizer=L.image_set("localizer").images,
            localizer_table=L.image_set("localizer").table,
            oracle=L.oracle().model,
        output:
            bids=directory(L.simulated_subject("{subject}").bids),
            derivatives=directory(L.simulated_subject("{subject}").derivatives),
            truth=directory(L.simulated_subject("{subject}").truth),
        log:
            L.log("simulate_sub-{subject}"),
        benchmark:
            L.benchmark("simulate_sub-{subject}")
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            settings=lambda wildcards: as_params(
                SimulationSettings.from_config(CFG, subject=wildcards.subject)
            ),
            code=source_digest(
                "cortexplorer.simulate",
                "cortexplorer.io",
                "cortexplorer.oracle",
                "cortexplorer.seeding",
            ),
        script:
            "../scripts/simulate.py"

    rule simulate_dataset:
        """The simulated BIDS dataset's description, participants table and README (and its derivatives')."""
        output:
            description=L.simulation().description,
            participants=L.simulation().participants,
            readme=L.simulation().readme,
            derivatives=L.simulation().derivatives,
        log:
            L.log("simulate_dataset"),
        benchmark:
            L.benchmark("simulate_dataset")
        conda:
            DATA_ENV
        resources:
            mem_mb=500,
            runtime=5,
        params:
            settings=as_params(SimulatedDatasetSettings.from_config(CFG)),
            code=source_digest("cortexplorer.simulate.subject", "cortexplorer.io"),
        script:
            "../scripts/simulate_dataset.py"
