"""How generated images are judged against the unguided samples (BrainDiVE's evaluation and BrainSCUBA's
caption-driven images share it): a classifier's labels, the demo's true responses, category shares and the
true effect in units of the unguided samples' SD."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cortexplorer.io.truth import DemoTruth, match_voxels


class DemoJudge:
    """The simulator's true response model and the oracle it reads images with, matched to an encoder's voxels.

    Only the demo has one: the true activation of a region is the mean true response over the region's
    encoder voxels that the simulator also has.
    """

    def __init__(self, truth: DemoTruth, oracle_path: str, encoder_ijk: np.ndarray) -> None:
        from cortexplorer.oracle import load_oracle
        from cortexplorer.simulate.response import TrueResponseModel

        self.model = TrueResponseModel.load(truth.response_model_path)
        self.oracle = load_oracle(oracle_path)
        self.columns = match_voxels(truth.voxel_ijk, encoder_ijk)  # truth column of each encoder voxel, −1: none

    def responses(self, images: np.ndarray) -> np.ndarray:
        """True responses of every simulated voxel (images × voxels)."""
        return self.model.predict(images, self.oracle)

    def region_columns(self, voxels: np.ndarray) -> np.ndarray:
        """Truth columns of the encoder voxels ``voxels`` (those the simulator lacks left out)."""
        cols = self.columns[voxels]
        return cols[cols >= 0]

    def region_activation(self, responses: np.ndarray, voxels: np.ndarray) -> np.ndarray:
        """Per image, the mean true response over the region's voxels."""
        return responses[:, self.region_columns(voxels)].mean(1)


@dataclass
class UnguidedBaseline:
    """The unguided samples every generated set is compared with, labelled once (and, in the demo, their true
    responses)."""

    images: np.ndarray
    labels: np.ndarray
    true: np.ndarray | None  # images × simulated voxels; None outside the demo

    @classmethod
    def judge(cls, images: np.ndarray, label, truth: DemoJudge | None) -> UnguidedBaseline:
        labels = label(images) if len(images) else np.zeros(0, dtype=object)
        return cls(images, labels, truth.responses(images) if truth is not None else None)


def category_share(labels: np.ndarray, category: str) -> float:
    """Share of images labelled ``category`` (NaN for no images)."""
    return float(np.mean(labels == category)) if len(labels) else np.nan


def true_effect(true_set: float, true_unguided: np.ndarray) -> dict[str, float]:
    """Mean and SD of the unguided samples' true activation and the effect ``(set − unguided mean) / SD``."""
    mean = float(np.mean(true_unguided))
    sd = float(np.std(true_unguided, ddof=1))
    return {"true_unguided": mean, "true_unguided_sd": sd,
            "true_effect_sd": (true_set - mean) / sd if sd > 0 else np.nan}
