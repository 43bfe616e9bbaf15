# NSD mode: fetch the files listed in data_manifests/nsd.yaml (only those missing under


include: "functions/nsd.smk"


if MODE == "nsd":

    rule fetch_nsd:
        """Download one NSD file from the public bucket (skipped when it is already present)."""
        output:
            file=os.path.join(CFG["nsd"]["root"], "{nsd_path}"),
        log:
            L.log("fetch_nsd/{nsd_path}"),
        benchmark:
            L.benchmark("fetch_nsd/{nsd_path}")
        wildcard_constraints:
            nsd_path=nsd_path_pattern(),
        retries: 2
        conda:
            DATA_ENV
        resources:
            mem_mb=500,
            runtime=240,
            nsd_downloads=1,
        params:
            settings=lambda wildcards: as_params(
                FetchSettings.from_config(
                    CFG,
                    nsd_path=wildcards.nsd_path,
                    expected_bytes=nsd_expected_bytes(wildcards.nsd_path),
                )
            ),
            code=source_digest("cortexplorer.nsd.manifest", "cortexplorer.io.atomic"),
        script:
            "../scripts/fetch_nsd.py"

    rule stimuli_nsd:
        """The NSD images the configured subjects saw, resized, in the image-set contract."""
        input:
            hdf5=nsd_local_paths("stimuli")[0],
            expdesign=nsd_local_paths("expdesign")[0],
            stim_info=nsd_local_paths("stim_info")[0],
        output:
            images=L.stimuli().images,
            table=L.stimuli().table,
            provenance=L.stimuli().provenance,
        log:
            L.log("stimuli_nsd"),
        benchmark:
            L.benchmark("stimuli_nsd")
        conda:
            DATA_ENV
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            settings=as_params(NsdStimuliSettings.from_config(CFG)),
            code=source_digest(
                "cortexplorer.nsd.stimuli", "cortexplorer.nsd.stage", "cortexplorer.io"
            ),
        script:
            "../scripts/stimuli_nsd.py"
