# Stage `preprocess`: single-trial betas, noise ceilings and QC per subject
# (from BOLD in demo and bids modes, from NSD's released betas in nsd mode).


if MODE in ("demo", "bids"):

    rule preprocess:
        """GLMsingle-style single-trial betas of the main experiment (each recipe step compared)."""
        input:
            unpack(preprocess_inputs),
        output:
            betas=f"{RESULTS}/preprocess/sub-{{subject}}/betas.h5",
            ncsnr=f"{RESULTS}/preprocess/sub-{{subject}}/ncsnr.nii.gz",
            noiseceiling=f"{RESULTS}/preprocess/sub-{{subject}}/noiseceiling.nii.gz",
            r2=f"{RESULTS}/preprocess/sub-{{subject}}/r2.nii.gz",
            hrf_index=f"{RESULTS}/preprocess/sub-{{subject}}/hrf_index.nii.gz",
            frac=f"{RESULTS}/preprocess/sub-{{subject}}/frac.nii.gz",
            steps=f"{RESULTS}/preprocess/sub-{{subject}}/steps.tsv",
            qc=directory(f"{RESULTS}/preprocess/sub-{{subject}}/qc"),
            provenance=f"{RESULTS}/preprocess/sub-{{subject}}/provenance.json",
        log:
            f"{LOGS}/preprocess_sub-{{subject}}.log",
        benchmark:
            f"{BENCH}/preprocess_sub-{{subject}}.tsv"
        conda:
            DATA_ENV
        threads: workflow.cores
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            settings=CFG["preprocess"],
            seed=SEED,
            code=source_digest("cortexplorer.preprocess", "cortexplorer.io"),
        script:
            "../scripts/preprocess.py"

    rule rois:
        """Category-selective regions from the localizer runs (and food from the main experiment)."""
        input:
            unpack(rois_inputs),
        output:
            rois=directory(f"{RESULTS}/rois/sub-{{subject}}"),
        log:
            f"{LOGS}/rois_sub-{{subject}}.log",
        benchmark:
            f"{BENCH}/rois_sub-{{subject}}.tsv"
        conda:
            DATA_ENV
        threads: workflow.cores
        resources:
            mem_mb=6000,
            runtime=30,
        params:
            settings=CFG["rois"],
            confounds=CFG["preprocess"]["confounds"],
            space=CFG["preprocess"]["space"],
            code=source_digest(
                "cortexplorer.rois", "cortexplorer.preprocess.bids_input"
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
            betas=f"{RESULTS}/preprocess/sub-{{subject}}/betas.h5",
            ncsnr=f"{RESULTS}/preprocess/sub-{{subject}}/ncsnr.nii.gz",
            noiseceiling=f"{RESULTS}/preprocess/sub-{{subject}}/noiseceiling.nii.gz",
            provenance=f"{RESULTS}/preprocess/sub-{{subject}}/provenance.json",
        log:
            f"{LOGS}/preprocess_nsd_sub-{{subject}}.log",
        benchmark:
            f"{BENCH}/preprocess_nsd_sub-{{subject}}.tsv"
        conda:
            DATA_ENV
        resources:
            mem_mb=16000,
            runtime=60,
        params:
            sessions=sorted(CFG["nsd"]["sessions"]),  # the order of the betas files
            code=source_digest(
                "cortexplorer.nsd.betas", "cortexplorer.preprocess.contract"
            ),
        script:
            "../scripts/preprocess_nsd.py"

    rule rois_nsd:
        """NSD's drawn fLoc regions (domains and subregions) in the rois contract."""
        input:
            unpack(nsd_floc_inputs),
        output:
            rois=directory(f"{RESULTS}/rois/sub-{{subject}}"),
        log:
            f"{LOGS}/rois_nsd_sub-{{subject}}.log",
        benchmark:
            f"{BENCH}/rois_nsd_sub-{{subject}}.tsv"
        conda:
            DATA_ENV
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            code=source_digest("cortexplorer.nsd.rois", "cortexplorer.rois.contract"),
        script:
            "../scripts/rois_nsd.py"
