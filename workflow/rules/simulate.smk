# Stage `simulate` (demo only): a subject with planted regions, as BIDS + fMRIPrep derivatives.


if MODE == "demo":

    rule simulate:
        """BOLD, events and confounds of the simulated subject, and its ground truth."""
        input:
            stimuli=f"{RESULTS}/stimuli/images.h5",
            stimuli_table=f"{RESULTS}/stimuli/stimuli.tsv",
            localizer=f"{RESULTS}/localizer/images.h5",
            localizer_table=f"{RESULTS}/localizer/stimuli.tsv",
            oracle=f"{RESULTS}/oracle/oracle.pt",
        output:
            bids=directory(f"{RESULTS}/bids"),
            truth=directory(f"{RESULTS}/truth"),
        log:
            f"{LOGS}/simulate.log",
        benchmark:
            f"{BENCH}/simulate.tsv"
        conda:
            MODELS_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            settings=CFG["simulate"],
            seed=SEED,
        script:
            "../scripts/simulate.py"
