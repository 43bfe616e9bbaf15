# Stage `stimuli`: the image sets every later stage reads (images.h5 + stimuli.tsv).


if MODE == "demo":

    rule stimuli_demo:
        """Procedural images of the demo world: fMRI stimuli, a disjoint pool, localizer images."""
        output:
            images=f"{RESULTS}/{{imageset}}/images.h5",
            table=f"{RESULTS}/{{imageset}}/stimuli.tsv",
            provenance=f"{RESULTS}/{{imageset}}/provenance.json",
        log:
            f"{LOGS}/stimuli_demo_{{imageset}}.log",
        benchmark:
            f"{BENCH}/stimuli_demo_{{imageset}}.tsv"
        wildcard_constraints:
            imageset="stimuli|pool|localizer",
        conda:
            DATA_ENV
        resources:
            mem_mb=3000,
            runtime=20,
        params:
            settings=demo_image_set_settings,
        script:
            "../scripts/stimuli_demo.py"


if MODE == "bids":

    rule stimuli_folder:
        """A BIDS dataset's stimulus folder, resized into the image-set contract."""
        input:
            folder=CFG["bids"]["stimuli_dir"],
        output:
            images=f"{RESULTS}/stimuli/images.h5",
            table=f"{RESULTS}/stimuli/stimuli.tsv",
            provenance=f"{RESULTS}/stimuli/provenance.json",
        log:
            f"{LOGS}/stimuli_folder.log",
        benchmark:
            f"{BENCH}/stimuli_folder.tsv"
        conda:
            DATA_ENV
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            image_size=CFG["stimuli"]["image_size"],
        script:
            "../scripts/stimuli_folder.py"
