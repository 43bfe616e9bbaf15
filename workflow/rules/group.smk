# Stage `group`: every participant's numbers in one table, and their mean and spread (cortexplorer.group).
from cortexplorer.group.settings import GroupSettings


include: "functions/group.smk"


rule group_summary:
    """Per-participant tables and the group's mean and spread (region sizes, Dice, encoders, synthesis, captions)."""
    input:
        unpack(group_inputs),
    output:
        participants=L.group().participants,
        summary=report(
            L.group().summary,
            caption="../report/group.rst",
            category="Group",
        ),
        figure=report(
            L.group().figure,
            caption="../report/group.rst",
            category="Group",
        ),
        provenance=L.group().provenance,
    log:
        L.log("group_summary"),
    benchmark:
        L.benchmark("group_summary")
    conda:
        DATA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=as_params(
            GroupSettings.from_workflow(
                subjects=SUBJECTS,
                encoder_backbones=ENCODER_BACKBONES,
                brainscuba=BRAINSCUBA,
            )
        ),
        code=source_digest("cortexplorer.group", "cortexplorer.io"),
    script:
        "../scripts/group.py"
