"""The beta-space baseline: ridge from single-trial betas to the CLIP image embedding, retrieval by cosine.

This is the encoder stage's problem transposed (brain → features instead of features → brain), so it is solved by the
encoder stage's solver, :func:`cortexplorer.encoder.ridge.ridge_cv`, with one α per embedding dimension chosen by
grouped K-fold CV (all repeats of a stimulus in one fold: no repeat of a validation image is trained on). What most
NSD decoding papers start from (MindEye's linear baseline; ``../shared/reference/decoding_wave.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cortexplorer.encoder.ridge import RidgeFit, grouped_kfold, ridge_cv


def fit_beta_decoder(betas: np.ndarray, targets: np.ndarray, stim_ids: Sequence, *, alphas: Sequence[float],
                     n_folds: int, seed: int) -> RidgeFit:
    """Ridge from ``betas`` (trials × voxels) to ``targets`` (trials × E, the embedding of each trial's image).

    ``stim_ids`` names each trial's image; its repeats share a CV fold."""
    betas = np.asarray(betas, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    if len(betas) != len(targets) or len(betas) != len(stim_ids):
        raise ValueError(f"The decoder needs one target and one stimulus per trial: {len(betas)} trials of betas, "
                         f"{len(targets)} targets, {len(stim_ids)} stimulus ids.")
    return ridge_cv(betas, targets, alphas, grouped_kfold(stim_ids, n_folds, seed))
