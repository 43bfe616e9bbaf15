"""Stage ``stimuli``: the procedural image world of the demo (and NSD/BIDS stimulus import)."""

from cortexplorer.lazy import lazy_exports

__all__ = ["CATEGORIES", "DEMO_SETS", "Scene", "caption", "generate_image_set", "make_demo_image_set", "render", "sample_scene"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "generate": ["DEMO_SETS", "generate_image_set", "make_demo_image_set"],
    "world": ["CATEGORIES", "Scene", "caption", "render", "sample_scene"],
})
