# Stage `report`: the self-contained dashboard (reports/index.html by default).
from cortexplorer.report.settings import DashboardSettings


include: "functions/report.smk"


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
        L.log("report_dashboard"),
    benchmark:
        L.benchmark("report_dashboard")
    conda:
        DATA_ENV
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        settings=as_params(
            DashboardSettings.from_config(
                CFG,
                subjects=SUBJECTS,
                encoder_backbones=ENCODER_BACKBONES,
                nsd_files=nsd_local_paths() if MODE == "nsd" else [],
            )
        ),
        code=source_digest("cortexplorer.report", "cortexplorer.layout"),
    script:
        "../scripts/report_dashboard.py"
