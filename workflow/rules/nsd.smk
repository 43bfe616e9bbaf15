# NSD mode: fetch the files listed in data_manifests/nsd.yaml (only those missing under
# nsd.root) and import the subjects' stimuli. Fetching happens in jobs, never at DAG build,
# so `snakemake -n` works offline.
if MODE == "nsd":

    rule fetch_nsd:
        """Download one NSD file from the public bucket (skipped when it is already present)."""
        output:
            os.path.join(CFG["nsd"]["root"], "{nsd_path}"),
        log:
            f"{LOGS}/fetch_nsd/{{nsd_path}}.log",
        benchmark:
            f"{BENCH}/fetch_nsd/{{nsd_path}}.tsv"
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
            url=lambda wildcards: f"{CFG['nsd']['base_url'].rstrip('/')}/{wildcards.nsd_path}",
            expected_bytes=nsd_expected_bytes,
        script:
            "../scripts/fetch_nsd.py"

    rule stimuli_nsd:
        """The NSD images the configured subjects saw, resized, in the image-set contract."""
        input:
            hdf5=nsd_local_paths("stimuli")[0],
            expdesign=nsd_local_paths("expdesign")[0],
            stim_info=nsd_local_paths("stim_info")[0],
        output:
            images=f"{RESULTS}/stimuli/images.h5",
            table=f"{RESULTS}/stimuli/stimuli.tsv",
            provenance=f"{RESULTS}/stimuli/provenance.json",
        log:
            f"{LOGS}/stimuli_nsd.log",
        benchmark:
            f"{BENCH}/stimuli_nsd.tsv"
        conda:
            DATA_ENV
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            subjects=CFG["nsd"]["subjects"],
            image_size=CFG["nsd"]["image_size"],
        script:
            "../scripts/stimuli_nsd.py"
