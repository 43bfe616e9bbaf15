# Stage `preprocess`: single-trial betas, noise ceilings and QC per subject


include: "functions/preprocess.smk"


if MODE in ("demo", "bids"):

    rule preprocess:
        """GLMsingle-style single-trial betas of the main experiment (each recipe step compared)."""
        input:
            unpack(preprocess_inputs),
        output:
            betas=PREPROCESS_PATHS.betas,
            ncsnr=PREPROCESS_PATHS.ncsnr,
            noiseceiling=PREPROCESS_PATHS.noiseceiling,
            r2=PREPROCESS_PATHS.r2,
            hrf_index=PREPROCESS_PATHS.hrf_index,
            frac=PREPROCESS_PATHS.frac,
            steps=PREPROCESS_PATHS.steps,
            qc=directory(PREPROCESS_PATHS.qc),
            provenance=PREPROCESS_PATHS.provenance,
        log:
            L.log("preprocess_sub-{subject}"),
        benchmark:
            L.benchmark("preprocess_sub-{subject}")
        conda:
            DATA_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            settings=lambda wildcards: as_params(
                PreprocessSettings.from_config(CFG, subject=wildcards.subject)
            ),
            code=source_digest("cortexplorer.preprocess", "cortexplorer.io"),
        script:
            "../scripts/preprocess.py"

    rule rois:
        """Category-selective regions from the localizer runs (and food from the main experiment)."""
        input:
            unpack(rois_inputs),
        output:
            rois=directory(L.rois("{subject}").rois),
        log:
            L.log("rois_sub-{subject}"),
        benchmark:
            L.benchmark("rois_sub-{subject}")
        conda:
            DATA_ENV
        threads: workflow.cores
        resources:
            mem_mb=6000,
            runtime=30,
        params:
            settings=lambda wildcards: as_params(
                RoisSettings.from_config(CFG, subject=wildcards.subject)
            ),
            code=source_digest(
                "cortexplorer.rois", "cortexplorer.preprocess", "cortexplorer.io"
            ),
        script:
            "../scripts/rois.py"


if MODE == "nsd":

    rule preprocess_nsd:
        """NSD's released single-trial betas (b3) in the betas contract, z-scored per session."""
        input:
            betas=lambda wildcards: nsd_subject_paths(wildcards.subject, "betas"),
            expdesign=nsd_local_paths("expdesign")[0],
            ncsnr=lambda wildcards: nsd_subject_paths(wildcards.subject, "ncsnr"),
            mask=lambda wildcards: nsd_subject_paths(
                wildcards.subject, "roi", "nsdgeneral"
            ),
        output:
            betas=PREPROCESS_PATHS.betas,
            ncsnr=PREPROCESS_PATHS.ncsnr,
            noiseceiling=PREPROCESS_PATHS.noiseceiling,
            provenance=PREPROCESS_PATHS.provenance,
        log:
            L.log("preprocess_nsd_sub-{subject}"),
        benchmark:
            L.benchmark("preprocess_nsd_sub-{subject}")
        conda:
            DATA_ENV
        resources:
            mem_mb=16000,
            runtime=60,
        params:
            # sessions sorted: the order of the betas files
            settings=lambda wildcards: as_params(
                NsdBetasSettings.from_config(CFG, subject=wildcards.subject)
            ),
            code=source_digest(
                "cortexplorer.nsd.betas",
                "cortexplorer.nsd.stage",
                "cortexplorer.preprocess.contract",
            ),
        script:
            "../scripts/preprocess_nsd.py"

    rule rois_nsd:
        """NSD's drawn fLoc regions (domains and subregions) in the rois contract."""
        input:
            unpack(nsd_floc_inputs),
        output:
            rois=directory(L.rois("{subject}").rois),
        log:
            L.log("rois_nsd_sub-{subject}"),
        benchmark:
            L.benchmark("rois_nsd_sub-{subject}")
        conda:
            DATA_ENV
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            settings=lambda wildcards: as_params(
                NsdRoisSettings.from_config(CFG, subject=wildcards.subject)
            ),
            code=source_digest(
                "cortexplorer.nsd.rois",
                "cortexplorer.nsd.stage",
                "cortexplorer.rois.contract",
            ),
        script:
            "../scripts/rois_nsd.py"
