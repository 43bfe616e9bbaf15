"""Stage ``encoder``: voxelwise ridge encoders from image features to betas (:mod:`~cortexplorer.encoder.stage`)."""

from cortexplorer.encoder.model import ImageEncoder, VoxelEncoder, held_out_scores
from cortexplorer.encoder.ridge import RidgeFit, grouped_kfold, ridge_cv

__all__ = ["ImageEncoder", "RidgeFit", "VoxelEncoder", "grouped_kfold", "held_out_scores", "ridge_cv"]
