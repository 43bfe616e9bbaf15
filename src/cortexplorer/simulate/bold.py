"""BOLD time series: voxel-specific HRFs, drift, motion-driven signal, AR(1) noise, and the
confounds table fMRIPrep would write for it.

Volumes are slice-time corrected to the middle of each TR, as fMRIPrep does by default, so
volume ``n`` samples time ``n * TR + StartTime`` with ``StartTime = TR / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from nilearn.glm.first_level.hemodynamic_models import (
    spm_dispersion_derivative,
    spm_hrf,
    spm_time_derivative,
)
from scipy.signal import fftconvolve

DT = 0.1  # seconds, fine time grid of the simulation
HRF_LENGTH = 32.0


def hrf_basis(tr: float) -> tuple[np.ndarray, np.ndarray]:
    """SPM canonical HRF, temporal and dispersion derivatives on the ``DT`` grid: (time, 3×n)."""
    oversampling = round(tr / DT)
    basis = np.stack([
        spm_hrf(tr, oversampling, HRF_LENGTH),
        spm_time_derivative(tr, oversampling, HRF_LENGTH),
        spm_dispersion_derivative(tr, oversampling, HRF_LENGTH),
    ])
    time = np.arange(basis.shape[1]) * (tr / oversampling)
    return time, basis


def voxel_hrf_coefficients(n_voxels: int, rng: np.random.Generator, tr: float, trial_duration: float) -> np.ndarray:
    """Per-voxel combinations of the basis (V×3), scaled so a ``trial_duration`` boxcar peaks at 1.

    The derivative weights shift the peak by about ±1 s and change its width: each voxel has
    its own HRF, and a beta of 1 means a response of 1 % signal change at the peak.
    """
    _, basis = hrf_basis(tr)
    coef = np.column_stack([np.ones(n_voxels), rng.uniform(-1.0, 1.0, n_voxels), rng.uniform(-0.5, 0.5, n_voxels)])
    box = np.ones(round(trial_duration / DT))
    per_basis = np.stack([np.convolve(b, box)[: basis.shape[1] + len(box)] for b in basis])
    peaks = (coef @ per_basis).max(axis=1)
    return (coef / peaks[:, None]).astype(np.float64)


def event_regressors(events: pd.DataFrame, n_volumes: int, tr: float, start_time: float) -> np.ndarray:
    """Boxcars of every event convolved with each basis function and sampled at the volumes: 3×T×E."""
    _, basis = hrf_basis(tr)
    n_fine = int(np.ceil((n_volumes * tr + HRF_LENGTH) / DT))
    box = np.zeros((n_fine, len(events)), dtype=np.float64)
    for j, (onset, duration) in enumerate(zip(events["onset"], events["duration"], strict=True)):
        a = round(onset / DT)
        box[a : a + max(1, round(duration / DT)), j] = 1.0
    idx = np.round((np.arange(n_volumes) * tr + start_time) / DT).astype(int)
    return np.stack([fftconvolve(box, b[:, None], axes=0)[:n_fine][idx] for b in basis])


def motion_parameters(n_volumes: int, rng: np.random.Generator) -> np.ndarray:
    """Six rigid-body parameters (trans_x/y/z in mm, rot_x/y/z in rad): slow random walks plus a jump."""
    steps = rng.normal(0, 1, (n_volumes, 6)) * np.array([0.01, 0.01, 0.015, 2e-4, 2e-4, 2e-4])
    walk = np.cumsum(steps, axis=0)
    t_jump = int(rng.integers(n_volumes // 4, max(n_volumes // 4 + 1, 3 * n_volumes // 4)))
    walk[t_jump:] += rng.normal(0, 1, 6) * np.array([0.15, 0.15, 0.25, 2e-3, 2e-3, 2e-3])
    return walk - walk[0]


def framewise_displacement(motion: np.ndarray, radius_mm: float = 50.0) -> np.ndarray:
    """Power et al. (2012) FD: sum of absolute backward differences, rotations on a 50 mm sphere."""
    diff = np.abs(np.diff(motion, axis=0))
    fd = diff[:, :3].sum(1) + radius_mm * diff[:, 3:].sum(1)
    return np.concatenate([[np.nan], fd])


def cosine_basis(n_volumes: int, tr: float, high_pass_s: float = 128.0) -> np.ndarray:
    """fMRIPrep's DCT high-pass regressors (``cosine00`` …): their number depends on run length."""
    order = int(np.floor(2 * n_volumes * tr / high_pass_s))
    n = np.arange(n_volumes)
    return np.column_stack([np.sqrt(2.0 / n_volumes) * np.cos(np.pi * (2 * n + 1) * k / (2 * n_volumes))
                            for k in range(1, order + 1)]) if order else np.zeros((n_volumes, 0))


def ar1_noise(n_volumes: int, sd: np.ndarray, phi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise, T×V, with per-voxel SD and coefficient."""
    eps = rng.standard_normal((n_volumes, len(sd)), dtype=np.float32)
    out = np.empty_like(eps)
    out[0] = eps[0]
    innov = np.sqrt(1 - phi**2).astype(np.float32)
    phi32 = phi.astype(np.float32)
    for t in range(1, n_volumes):
        out[t] = phi32 * out[t - 1] + innov * eps[t]
    return out * sd.astype(np.float32)


@dataclass
class RunSignal:
    bold: np.ndarray  # T×V float32, scanner units
    confounds: pd.DataFrame
    motion: np.ndarray


def synthesize_run(
    *,
    regressors: np.ndarray,  # 3×T×E
    amplitudes: np.ndarray,  # E×V, % signal change
    hrf_coef: np.ndarray,  # V×3
    s0: np.ndarray,  # V baseline intensity
    noise_sd: np.ndarray,
    ar1: np.ndarray,
    drift_sd: float,
    motion_coupling: float,
    physio_loadings: np.ndarray,  # k × V, % signal change per unit of each shared noise source
    tissue: dict[str, np.ndarray],
    tr: float,
    rng: np.random.Generator,
    extra: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
) -> RunSignal:
    """One run of BOLD: neural responses ⊗ voxel HRFs + drift + motion signal + shared
    physiological noise (a few sources with fixed spatial loadings) + AR(1) noise. ``extra`` adds responses on other
    schedules (regressors 3×T×E', amplitudes E'×C, voxel columns C), e.g. the networks' lagged responses."""
    n_volumes = regressors.shape[1]
    n_voxels = len(s0)
    signal = np.zeros((n_volumes, n_voxels), dtype=np.float64)
    for k in range(regressors.shape[0]):
        signal += (regressors[k] @ amplitudes) * hrf_coef[:, k]
    for regs, amp, cols in extra:
        for k in range(regs.shape[0]):
            signal[:, cols] += (regs[k] @ amp) * hrf_coef[cols, k]
    t = np.arange(n_volumes)
    drift = np.column_stack([np.cos(np.pi * k * (t + 0.5) / n_volumes) for k in range(1, 4)] + [t / n_volumes - 0.5])
    drift_w = rng.normal(0, 1, (4, n_voxels)) * drift_sd / np.array([1, 2, 3, 1])[:, None]
    motion = motion_parameters(n_volumes, rng)
    motion_mm = motion * np.array([1, 1, 1, 50, 50, 50])
    loadings = rng.normal(0, motion_coupling, (6, n_voxels))
    physio = ar1_noise(n_volumes, np.ones(len(physio_loadings)), np.full(len(physio_loadings), 0.6), rng)
    percent = (signal + drift @ drift_w + motion_mm @ loadings + physio @ physio_loadings
               + ar1_noise(n_volumes, noise_sd, ar1, rng))
    bold = (s0 * (1 + percent / 100.0)).astype(np.float32)
    return RunSignal(bold=bold, confounds=fmriprep_confounds(bold, motion, tissue, tr), motion=motion)


def fmriprep_confounds(bold: np.ndarray, motion: np.ndarray, tissue: dict[str, np.ndarray], tr: float) -> pd.DataFrame:
    """The confounds table with fMRIPrep's habits: derivatives with ``n/a`` in the first row,
    24 motion parameters, FD, DVARS, tissue signals and ``cosineXX`` columns."""
    cols: dict[str, np.ndarray] = {}

    def expand(name: str, x: np.ndarray) -> None:
        d = np.concatenate([[np.nan], np.diff(x)])
        cols[name] = x
        cols[f"{name}_derivative1"] = d
        cols[f"{name}_power2"] = x**2
        cols[f"{name}_derivative1_power2"] = d**2

    for name, mask in (("global_signal", tissue["brain"]), ("csf", tissue["csf"]), ("white_matter", tissue["white_matter"])):
        expand(name, bold[:, mask].mean(1).astype(np.float64))
    for i, name in enumerate(("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")):
        expand(name, motion[:, i])
    cols["framewise_displacement"] = framewise_displacement(motion)
    brain = bold[:, tissue["brain"]]
    cols["dvars"] = np.concatenate([[np.nan], np.sqrt((np.diff(brain, axis=0) ** 2).mean(1))])
    for k, col in enumerate(cosine_basis(len(bold), tr).T):
        cols[f"cosine{k:02d}"] = col
    return pd.DataFrame(cols)
