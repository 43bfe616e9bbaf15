"""Stage ``features``: unit-normalised image embeddings of every stimulus, with the model's identity."""

from cortexplorer.lazy import lazy_exports

__all__ = ["Features", "FeaturesSettings", "embed_stimuli", "extract_features", "read_features", "write_features"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "extract": ["Features", "embed_stimuli", "extract_features", "read_features", "write_features"],
    "settings": ["FeaturesSettings"],
})
