"""The demo's oracle: an image-computable "true" response model's building blocks.

``OracleClassifier`` gives per-category evidence for any image; :func:`contrast_energy`
gives receptive-field contrast energy for early visual voxels. The simulated subject
(:mod:`cortexplorer.simulate`) combines them into each voxel's true response.
"""

from cortexplorer.oracle.classifier import OracleClassifier, OracleSettings, load_oracle, train_oracle
from cortexplorer.oracle.energy import contrast_energy_maps, rf_energy

__all__ = ["OracleClassifier", "OracleSettings", "contrast_energy_maps", "load_oracle", "rf_energy", "train_oracle"]
