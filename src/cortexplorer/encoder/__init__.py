"""Stage ``encoder``: voxelwise ridge encoders from image features to betas (:mod:`~cortexplorer.encoder.stage`)."""

from cortexplorer.lazy import lazy_exports

__all__ = ["ImageEncoder", "RidgeFit", "VoxelEncoder", "grouped_kfold", "held_out_scores", "ridge_cv"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "model": ["ImageEncoder", "VoxelEncoder", "held_out_scores"],
    "ridge": ["RidgeFit", "grouped_kfold", "ridge_cv"],
})
