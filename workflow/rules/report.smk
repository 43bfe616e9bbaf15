# Stage `report`: the self-contained dashboard (reports/index.html by default).


rule report_dashboard:
    """One self-contained HTML page with a section per stage that has run."""
    input:
        unpack(report_inputs),
    output:
        html=report(
            CFG["report"]["html"],
            caption="../report/dashboard.rst",
            category="Dashboard",
            labels={"page": "index"},
        ),
    log:
        f"{LOGS}/report_dashboard.log",
    benchmark:
        f"{BENCH}/report_dashboard.tsv"
    conda:
        DATA_ENV
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        results_dir=RESULTS,
        dataset=DATASET,
        mode=MODE,
        montage_per_category=CFG["report"]["montage_per_category"],
        nsd_files=nsd_local_paths() if MODE == "nsd" else [],
        bench_dir=BENCH,
        log_dir=LOGS,
        config=CFG,
        code=source_digest("cortexplorer.report"),
    script:
        "../scripts/report_dashboard.py"
