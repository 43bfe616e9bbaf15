"""Receptive-field contrast energy: the low-level drive of early visual voxels.

Gabor quadrature-pair energy at three spatial frequencies and four orientations, summed over
orientation, then pooled by each voxel's Gaussian receptive field (a standard V1 energy model).
Coordinates are fractions of the image side, so the same voxel responds alike at any image size.
"""

from __future__ import annotations

import numpy as np
import torch

# wavelengths as fractions of the image side: fine, medium, coarse
WAVELENGTHS = (1 / 16, 1 / 8, 1 / 4)
N_ORIENTATIONS = 4


def _gabor_bank(side: int) -> list[torch.Tensor]:
    banks = []
    for frac in WAVELENGTHS:
        lam = max(frac * side, 4.0)  # below 4 px the odd (sine) filter vanishes on the pixel grid
        sigma = 0.5 * lam
        half = int(np.ceil(2.5 * sigma))
        yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
        kernels = []
        for k in range(N_ORIENTATIONS):
            th = np.pi * k / N_ORIENTATIONS
            u = xx * np.cos(th) + yy * np.sin(th)
            env = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
            for phase in (0.0, np.pi / 2):
                g = env * np.cos(2 * np.pi * u / lam + phase)
                g -= g.mean() * env / env.mean() if phase == 0 else 0.0  # zero DC for the even filter
                kernels.append(g / np.sqrt((g**2).sum()))
        banks.append(torch.tensor(np.stack(kernels)[:, None], dtype=torch.float32))
    return banks


def contrast_energy_maps(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Contrast energy per scale: uint8 N×H×W×3 (or float N×3×H×W in [0,1]) → N×S×H×W."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if images.dtype == torch.uint8:
        images = images.permute(0, 3, 1, 2).float() / 255.0
    lum = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None]
    side = lum.shape[-1]
    maps = []
    for bank in _gabor_bank(side):
        pad = bank.shape[-1] // 2  # reflect, so image borders are not seen as contrast edges
        resp = torch.nn.functional.conv2d(torch.nn.functional.pad(lum, (pad, pad, pad, pad), mode="reflect"), bank)
        even, odd = resp[:, 0::2], resp[:, 1::2]
        maps.append(torch.sqrt(even**2 + odd**2 + 1e-8).sum(1))
    return torch.stack(maps, 1)


def rf_weights(side: int, x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> torch.Tensor:
    """Gaussian receptive fields (V×H×W, each summing to 1); centres and sizes in image fractions."""
    grid = (np.arange(side) + 0.5) / side
    gx = np.exp(-((grid[None, :] - x[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    gy = np.exp(-((grid[None, :] - y[:, None]) ** 2) / (2 * sigma[:, None] ** 2))
    w = gy[:, :, None] * gx[:, None, :]
    w /= w.sum(axis=(1, 2), keepdims=True)
    return torch.tensor(w, dtype=torch.float32)


def rf_energy(
    images: np.ndarray | torch.Tensor, x: np.ndarray, y: np.ndarray, sigma: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Compressive (square-root) RF-pooled contrast energy, N×V float32.

    ``scale`` (V ints) picks the spatial-frequency band each voxel pools.
    """
    maps = contrast_energy_maps(images)
    side = maps.shape[-1]
    out = np.zeros((maps.shape[0], len(x)), dtype=np.float32)
    for s in range(maps.shape[1]):
        sel = np.flatnonzero(scale == s)
        if len(sel) == 0:
            continue
        w = rf_weights(side, x[sel], y[sel], sigma[sel])
        out[:, sel] = torch.einsum("nhw,vhw->nv", maps[:, s], w).sqrt().numpy()
    return out
