"""Stage ``features``: unit-normalised image embeddings of every stimulus, with the model's identity."""

from cortexplorer.features.extract import (
    Features,
    FeaturesSettings,
    embed_stimuli,
    extract_features,
    read_features,
    write_features,
)

__all__ = ["Features", "FeaturesSettings", "embed_stimuli", "extract_features", "read_features", "write_features"]
