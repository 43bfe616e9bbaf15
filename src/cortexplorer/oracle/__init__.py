"""The demo's oracle: an image-computable "true" response model's building blocks.

``OracleClassifier`` gives per-category evidence for any image; :func:`contrast_energy`
gives receptive-field contrast energy for early visual voxels. The simulated subject
(:mod:`cortexplorer.simulate`) combines them into each voxel's true response.
"""

from cortexplorer.lazy import lazy_exports

__all__ = ["OracleClassifier", "OracleSettings", "contrast_energy_maps", "load_oracle", "rf_energy", "train_oracle"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "classifier": ["OracleClassifier", "load_oracle", "train_oracle"],
    "energy": ["contrast_energy_maps", "rf_energy"],
    "settings": ["OracleSettings"],
})
