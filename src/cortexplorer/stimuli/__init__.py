"""Stage ``stimuli``: the procedural image world of the demo (and NSD/BIDS stimulus import)."""

from cortexplorer.stimuli.generate import DEMO_SETS, generate_image_set, make_demo_image_set
from cortexplorer.stimuli.world import CATEGORIES, Scene, caption, render, sample_scene

__all__ = ["CATEGORIES", "DEMO_SETS", "Scene", "caption", "generate_image_set", "make_demo_image_set", "render", "sample_scene"]
