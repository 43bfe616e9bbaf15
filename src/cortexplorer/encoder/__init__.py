"""Stage ``encoder`` (in progress): voxelwise ridge encoders on image features."""

from cortexplorer.encoder.ridge import RidgeFit, grouped_kfold, ridge_cv

__all__ = ["RidgeFit", "grouped_kfold", "ridge_cv"]
