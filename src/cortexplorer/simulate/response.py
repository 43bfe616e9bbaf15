"""The simulated subject's true response to any image.

For voxel v and image x (responses in % signal change at the peak of the HRF, the GLMsingle
convention):

    drive_v(x)    = sum_c W[v, c] * evidence_c(x) + w_rf[v] * energy_v(x)
    response_v(x) = baseline[v] + gain[v] * (drive_v(x) - drive_mean[v]) / drive_sd[v]

where ``evidence`` is the oracle classifier's softmax category evidence and ``energy`` the
RF-pooled contrast energy. ``drive_mean``/``drive_sd`` are fixed once, on the fMRI stimuli, so
that generated images are scored on the same scale as the stimuli.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

import h5py
import numpy as np

from cortexplorer.io.hdf5 import write_h5
from cortexplorer.oracle import OracleClassifier, load_oracle, rf_energy

RF_SCALE_OF_SIGMA = (0.06, 0.14)  # RFs narrower than these pool the fine, medium band; wider: coarse


@dataclass
class TrueResponseModel:
    """Per-voxel parameters of the true response; see the module docstring for the formula."""

    categories: list[str]
    category_weights: np.ndarray  # V×C
    rf_weight: np.ndarray  # V
    rf_x: np.ndarray  # V (image fraction)
    rf_y: np.ndarray
    rf_sigma: np.ndarray
    gain: np.ndarray  # V, SD of the response across the fMRI stimuli (% signal change)
    baseline: np.ndarray  # V, mean response across the fMRI stimuli
    drive_mean: np.ndarray  # V
    drive_sd: np.ndarray  # V

    @property
    def n_voxels(self) -> int:
        return len(self.gain)

    @property
    def rf_scale(self) -> np.ndarray:
        return np.digitize(self.rf_sigma, RF_SCALE_OF_SIGMA)

    def drive(self, images: np.ndarray, oracle: OracleClassifier) -> np.ndarray:
        """Unnormalised drive, N×V."""
        evidence = oracle.evidence(images)
        if list(oracle.categories) != list(self.categories):
            raise ValueError(f"Oracle categories {oracle.categories} differ from the subject's {self.categories}.")
        out = evidence @ self.category_weights.T
        has_rf = self.rf_weight > 0
        if has_rf.any():
            energy = rf_energy(images, self.rf_x[has_rf], self.rf_y[has_rf], self.rf_sigma[has_rf],
                               self.rf_scale[has_rf])
            out[:, has_rf] += energy * self.rf_weight[has_rf]
        return out.astype(np.float32)

    def calibrate(self, images: np.ndarray, oracle: OracleClassifier) -> None:
        """Fix ``drive_mean``/``drive_sd`` on the fMRI stimuli."""
        d = self.drive(images, oracle)
        self.drive_mean = d.mean(0)
        sd = d.std(0)
        self.drive_sd = np.where(sd > 1e-8, sd, 1.0).astype(np.float32)

    def predict(self, images: np.ndarray, oracle: OracleClassifier) -> np.ndarray:
        """True responses (% signal change), N×V float32."""
        z = (self.drive(images, oracle) - self.drive_mean) / self.drive_sd
        return (self.baseline + self.gain * z).astype(np.float32)

    def save(self, path: str | os.PathLike) -> None:
        write_h5(path, {fld.name: np.asarray(getattr(self, fld.name), dtype=np.float32)
                        for fld in fields(self) if fld.name != "categories"},
                 attrs={"categories": list(self.categories)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrueResponseModel:
        if not os.path.exists(path):
            raise FileNotFoundError(f"True-response model '{path}' does not exist; run the simulate rule first.")
        with h5py.File(path, "r") as f:
            kwargs = {fld.name: f[fld.name][:] for fld in fields(cls) if fld.name != "categories"}
            kwargs["categories"] = [str(c) for c in f.attrs["categories"]]
        return cls(**kwargs)


def score_images(images: np.ndarray, model_path: str | os.PathLike, oracle_path: str | os.PathLike) -> np.ndarray:
    """True responses of any images (e.g. generated ones), N×V: the demo's ground-truth judge."""
    return TrueResponseModel.load(model_path).predict(images, load_oracle(oracle_path))
