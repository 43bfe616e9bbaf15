from cortexplorer.brainscuba.stage import run_semantics
from cortexplorer.runner import run_stage

smk = snakemake  # noqa: F821 (injected by Snakemake)
p, i, out = smk.params, smk.input, smk.output
run_stage(smk, run_semantics, captions_tsv=i.captions, encoder_path=i.encoder, rois_dir=i.rois, regions=p.regions,
          out_regions=out.regions, out_nouns=out.nouns, out_examples=out.examples, out_map=out.map,
          out_provenance=out.provenance, lexicon=p.lexicon, truth_dir=i.get("truth"), top_k=p.top_k,
          on_template=p.on_template, seed=p.seed)
