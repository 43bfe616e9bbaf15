"""Stage ``simulate`` (demo only): a subject with planted category regions, written as BIDS + truth."""

from cortexplorer.simulate.response import TrueResponseModel, score_images
from cortexplorer.simulate.subject import SimulationSettings, simulate_subject

__all__ = ["SimulationSettings", "TrueResponseModel", "score_images", "simulate_subject"]
