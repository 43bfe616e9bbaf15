# Input functions, constants and targets of stage `report` (its rules are in ../report.smk).


def report_inputs(wildcards):
    """One file per stage section, so the dashboard is rebuilt after any stage changes."""
    inputs = {"stimuli": L.stimuli().table}
    if MODE == "demo":
        inputs.update(
            pool=L.image_set("pool").table,
            localizer=L.image_set("localizer").table,
            oracle=L.oracle().metrics,
            demo_clip=L.demo_clip().retrieval,
            demo_diffusion=L.demo_diffusion().curve,
            demo_prior=L.demo_prior().quality,
        )
    for s in SUBJECTS:
        inputs.update({f"{k}_{s}": v for k, v in demo_truth(s).items()})
        inputs[f"preprocess_{s}"] = L.preprocess(s).provenance
        inputs[f"rois_{s}"] = L.rois(s).rois
        inputs[f"braindive_{s}"] = L.braindive_evaluation(s).summary
        for b in ENCODER_BACKBONES:
            inputs[f"encoder_{s}_{b}"] = L.encoder(s, b).provenance
        if BRAINSCUBA:
            inputs[f"brainscuba_{s}"] = L.brainscuba_semantics(s).regions
            inputs[f"brainscuba_images_{s}"] = L.brainscuba_images(s).summary
    inputs.update(
        group=L.group().summary,
        visual_search=L.visual_search_summary().asymmetry,
        triplet_fit=L.triplet_fit().provenance,
    )
    if ODD_ONE_OUT:
        inputs["odd_one_out"] = L.odd_one_out().provenance
    if SCANPATHS:
        inputs["scanpaths"] = L.scanpath_evaluate().metrics
    if DECODING:
        inputs.update(
            {f"decoding_{s}": L.decoding_evaluate(s).metrics for s in SUBJECTS}
        )
    return inputs
