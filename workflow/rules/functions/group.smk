# Input functions and targets of stage `group` (its rule is in ../group.smk).


def group_inputs(wildcards):
    """Each participant's regions, encoder region tables, BrainDiVE and BrainSCUBA summaries."""
    inputs = {}
    for s in SUBJECTS:
        inputs[f"rois_{s}"] = L.rois(s).rois
        for b in ENCODER_BACKBONES:
            inputs[f"encoder_{s}_{b}"] = L.encoder(s, b).regions
        inputs[f"braindive_{s}"] = L.braindive_evaluation(s).summary
        if BRAINSCUBA:
            inputs[f"brainscuba_{s}"] = L.brainscuba_semantics(s).regions
    return inputs


def group_targets():
    return L.group().files()


TARGETS.append(group_targets)
