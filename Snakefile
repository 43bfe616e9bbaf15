# cortexplorer: fMRI responses to natural images -> encoders -> synthesis, captions, behaviour.
# Run: snakemake --cores all            (the embedded demo, config/config.yaml)
#      snakemake --cores all --configfile config/smoke.yaml   (tiny variant used by the tests)
#      snakemake --profile profiles/slurm --configfile config/nsd.yaml
import os

from snakemake.utils import min_version

min_version("9.0")


# beside this file, so that `snakemake --directory DIR` (and the `cortexplorer` BIDS App) find it
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    backbone="[A-Za-z0-9_-]+",
    region="[A-Za-z0-9-]+",
    shard="[^/]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/stimuli.smk"
include: "workflow/rules/oracle.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/nsd.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/encoder.smk"
include: "workflow/rules/braindive.smk"
include: "workflow/rules/brainscuba.smk"
include: "workflow/rules/visual_search.smk"
include: "workflow/rules/triplets.smk"
include: "workflow/rules/scanpaths.smk"
include: "workflow/rules/decoding.smk"
include: "workflow/rules/group.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every product of the workflow (each stage's targets, then the dashboard)."""
    default_target: True
    input:
        final_outputs(),


rule participant:
    """BIDS-App participant level: every stage's targets for the chosen participants."""
    input:
        stage_outputs(),


rule group:
    """BIDS-App group level: the dashboard over the chosen participants."""
    input:
        CFG["report"]["html"],
