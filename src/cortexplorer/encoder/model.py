"""The fitted encoder as a torch module that later stages differentiate through, and its scores.

``VoxelEncoder`` maps features (N × D) to voxel responses (N × V) with the ridge weights; with a
backbone in front (``ImageEncoder``) the predicted response of a region is a differentiable
function of the image, which is what BrainDiVE's guidance needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from cortexplorer.encoder.ridge import RidgeFit
from cortexplorer.io.torchfile import save_torch
from cortexplorer.stats import column_corr


class VoxelEncoder(torch.nn.Module):
    """Linear read-out: ``features @ weight + bias`` for the voxels at ``voxel_ijk``.

    ``identity`` records the backbone whose (unit-normalised) embeddings the weights read, so a
    stage that puts a backbone in front can check it is the same model.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, voxel_ijk: torch.Tensor, alpha: torch.Tensor,
                 identity: Mapping[str, Any] | None = None, affine: torch.Tensor | None = None,
                 shape: torch.Tensor | None = None):
        super().__init__()
        self.identity = dict(identity or {})
        if weight.ndim != 2 or bias.shape != (weight.shape[1],) or voxel_ijk.shape != (weight.shape[1], 3):
            raise ValueError(f"Inconsistent encoder shapes: weight {tuple(weight.shape)}, bias {tuple(bias.shape)}, "
                             f"voxel_ijk {tuple(voxel_ijk.shape)}.")
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.register_buffer("voxel_ijk", voxel_ijk)
        self.register_buffer("alpha", alpha)
        # the voxel grid (4 × 4 affine, 3 dims) that voxel_ijk indexes, so region masks can be checked against it
        self.register_buffer("affine", None if affine is None else torch.as_tensor(affine, dtype=torch.float64))
        self.register_buffer("shape", None if shape is None else torch.as_tensor(shape, dtype=torch.int64))

    @classmethod
    def from_fit(cls, fit: RidgeFit, voxel_ijk: np.ndarray, identity: Mapping[str, Any] | None = None,
                 affine: np.ndarray | None = None, shape: tuple[int, int, int] | None = None) -> VoxelEncoder:
        return cls(torch.as_tensor(np.asarray(fit.coef, dtype=np.float32)),
                   torch.as_tensor(np.asarray(fit.intercept, dtype=np.float32)),
                   torch.as_tensor(np.asarray(voxel_ijk, dtype=np.int64)),
                   torch.as_tensor(np.asarray(fit.alpha, dtype=np.float32)), identity,
                   None if affine is None else torch.as_tensor(np.asarray(affine, dtype=np.float64)),
                   None if shape is None else torch.as_tensor(np.asarray(shape, dtype=np.int64)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight + self.bias

    def select(self, voxels: np.ndarray | torch.Tensor) -> VoxelEncoder:
        """The encoder of a subset of voxels (e.g. one region); an empty set is an error."""
        idx = torch.as_tensor(np.asarray(voxels)).long()
        if idx.numel() == 0:
            raise ValueError("The region has no voxels in this encoder; check the region mask and the voxel set.")
        return VoxelEncoder(self.weight[:, idx], self.bias[idx], self.voxel_ijk[idx], self.alpha[idx], self.identity,
                            self.affine, self.shape)

    def save(self, path: str | os.PathLike) -> None:
        state: dict[str, Any] = {k: v.cpu() for k, v in self.state_dict().items() if v is not None}
        state["identity"] = json.dumps(self.identity, sort_keys=True)
        save_torch(state, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoxelEncoder:
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing = {"weight", "bias", "voxel_ijk", "alpha"} - set(state)
        if missing:
            raise ValueError(f"'{path}' is not a cortexplorer encoder (missing {sorted(missing)}); rerun the encoder stage.")
        return cls(state["weight"], state["bias"], state["voxel_ijk"], state["alpha"],
                   json.loads(state.get("identity", "{}")), state.get("affine"), state.get("shape"))


class ImageEncoder(torch.nn.Module):
    """Images → unit-normalised backbone embedding → voxel responses (differentiable end to end)."""

    def __init__(self, backbone: torch.nn.Module, voxels: VoxelEncoder):
        super().__init__()
        self.backbone = backbone
        self.voxels = voxels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        emb = self.backbone(images)
        return self.voxels(emb / emb.norm(dim=-1, keepdim=True))


def held_out_scores(predicted: np.ndarray, measured: np.ndarray, noise_ceiling_percent: np.ndarray | None = None
                ) -> dict[str, np.ndarray]:
    """Per voxel on held-out stimuli: Pearson ``r``, ``r2`` (1 − SSE/SST) and, with a noise ceiling in
    % of variance, ``r2_noise_normalised`` = r² / (NC / 100) (Algonauts: r < 0 counts as 0, capped at 1)."""
    p = np.asarray(predicted, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if p.shape != m.shape:
        raise ValueError(f"Predictions {p.shape} and measurements {m.shape} differ in shape.")
    r = column_corr(p, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1 - ((m - p) ** 2).sum(0) / ((m - m.mean(0)) ** 2).sum(0)
    out = {"r": r, "r2": r2}
    if noise_ceiling_percent is not None:
        nc = np.asarray(noise_ceiling_percent, dtype=np.float64) / 100
        with np.errstate(invalid="ignore", divide="ignore"):
            out["r2_noise_normalised"] = np.where(nc > 0, np.minimum(np.clip(r, 0, None) ** 2 / nc, 1.0), np.nan)
    return out
