from cortexplorer.runner import run_stage
from cortexplorer.triplets.stage import choices

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(smk, choices, triplets_tsv=smk.input.triplets, images_tsv=smk.input.table,
          choices_path=smk.input.get("choices"), observers=smk.params.observers, seed=smk.params.seed,
          out_choices=smk.output.choices, out_provenance=smk.output.provenance)
