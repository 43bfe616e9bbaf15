# Stage `stimuli`: the image sets every later stage reads (images.h5 + stimuli.tsv).
from cortexplorer.stimuli.settings import DemoImageSetSettings, FolderStimuliSettings

if MODE == "demo":

    rule stimuli_demo:
        """Procedural images of the demo world: fMRI stimuli, a disjoint pool, localizer images."""
        output:
            images=L.image_set("{imageset}").images,
            table=L.image_set("{imageset}").table,
            provenance=L.image_set("{imageset}").provenance,
        log:
            L.log("stimuli_demo_{imageset}"),
        benchmark:
            L.benchmark("stimuli_demo_{imageset}")
        wildcard_constraints:
            imageset="stimuli|pool|localizer",
        conda:
            DATA_ENV
        resources:
            mem_mb=3000,
            runtime=20,
        params:
            # only the settings that shape this image set, so changing one set reruns only it
            settings=lambda wildcards: as_params(
                DemoImageSetSettings.from_config(CFG, imageset=wildcards.imageset)
            ),
            code=source_digest("cortexplorer.stimuli", "cortexplorer.io"),
        script:
            "../scripts/stimuli_demo.py"


if MODE == "bids":

    rule stimuli_folder:
        """A BIDS dataset's stimulus folder, resized into the image-set contract."""
        input:
            # the folder (an added or removed image changes it) and its files (an edited image reruns)
            folder=CFG["bids"]["stimuli_dir"],
            files=folder_files(CFG["bids"]["stimuli_dir"], recursive=True),
        output:
            images=L.stimuli().images,
            table=L.stimuli().table,
            provenance=L.stimuli().provenance,
        log:
            L.log("stimuli_folder"),
        benchmark:
            L.benchmark("stimuli_folder")
        conda:
            DATA_ENV
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            settings=as_params(FolderStimuliSettings.from_config(CFG)),
            code=source_digest("cortexplorer.stimuli", "cortexplorer.io"),
        script:
            "../scripts/stimuli_folder.py"
