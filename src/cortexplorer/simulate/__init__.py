"""Stage ``simulate`` (demo only): a subject with planted category regions, written as BIDS + truth."""

from cortexplorer.lazy import lazy_exports

__all__ = ["SimulationSettings", "TrueResponseModel", "score_images", "simulate_subject"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "response": ["TrueResponseModel", "score_images"],
    "settings": ["SimulationSettings"],
    "subject": ["simulate_subject"],
})
