"""Stage ``stimuli``: the procedural image world of the demo (and NSD/BIDS stimulus import)."""

from cortexplorer.stimuli.generate import generate_image_set, make_demo_stimuli
from cortexplorer.stimuli.world import CATEGORIES, Scene, caption, render, sample_scene

__all__ = ["CATEGORIES", "Scene", "caption", "generate_image_set", "make_demo_stimuli", "render", "sample_scene"]
